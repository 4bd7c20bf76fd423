/**
 * The hand-written PUBLISH codec against the general MessagePack path it
 * replaces on the hot path: encodePublish and publishFrameAround give the
 * bytes encodeFrame gives for the same fields, and decodePublish returns the
 * value (or throws the error) the Fields-based reader gives, for well-formed,
 * odd and hostile bodies alike.
 */
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  Fields,
  Op,
  SkiffError,
  decodePublish,
  encodeFrame,
  encodePublish,
  encodeRecord,
  pack,
  publishFrameAround,
  publishHeadRoom,
  PUBLISH_TAIL_ROOM,
  FRAME_HEADER_BYTES,
  type Publish,
} from '../../protocol/index.js'

/** The msgpackr-based encoding (encodePublish before it was written by hand). */
function referenceEncode(p: Publish): Buffer {
  const body: Record<string, unknown> = { corr: p.corr, topic: p.topic, count: p.count, records: p.records }
  if (!p.confirm) body.confirm = false
  if (p.producerId !== undefined) body.producerId = p.producerId
  if (p.sequence !== undefined) body.sequence = p.sequence
  return encodeFrame(Op.PUBLISH, body)
}

/** The Fields-based reading (decodePublish before it was written by hand). */
function referenceDecode(body: Buffer): Publish {
  const f = new Fields('PUBLISH', body)
  return {
    corr: f.uint('corr'),
    topic: f.str('topic', 249),
    count: f.uint('count', 1_000_000),
    records: f.bin('records'),
    confirm: f.bool('confirm', true),
    producerId: f.optUint('producerId', 2 ** 48 - 1),
    sequence: f.optUint('sequence', 0xfffffffe),
  }
}

/** Either the value or the error's code name and message. */
function outcome(fn: () => Publish): { value: Publish } | { error: string } {
  try {
    return { value: fn() }
  } catch (err) {
    if (!(err instanceof SkiffError)) throw err
    return { error: `${err.codeName}: ${err.message}` }
  }
}

/** Integers around every MessagePack size boundary, up to 2^53 - 1. */
const uint = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: 0, max: 0x1_0010 }),
  fc.integer({ min: 0xffff_fff0, max: 0x1_0000_0010 }),
  fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0xfffffffe, 2 ** 32, 2 ** 48 - 1, 2 ** 48, 1_000_000, 1_000_001, Number.MAX_SAFE_INTEGER),
  fc.maxSafeNat(),
)
const asciiTopic = fc.oneof(fc.stringMatching(/^[\x00-\x7f]{0,300}$/), fc.constantFrom('a'.repeat(249), 'a'.repeat(250), 'orders'))
const records = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(0x61)),
)
const plainPublish: fc.Arbitrary<Publish> = fc.record({
  corr: uint,
  topic: asciiTopic,
  count: uint,
  records: records.map((r) => Buffer.from(r)),
  confirm: fc.boolean(),
  producerId: fc.option(uint, { nil: undefined }),
  sequence: fc.option(uint, { nil: undefined }),
})
/** Values the hand-written path leaves to the general one. */
const oddPublish: fc.Arbitrary<Publish> = fc.record({
  corr: fc.oneof(uint, fc.integer({ min: -70_000, max: -1 }), fc.double({ noNaN: true })),
  topic: fc.oneof(asciiTopic, fc.string({ maxLength: 80, unit: 'binary' })),
  count: uint,
  records: records.map((r) => Buffer.from(r)),
  confirm: fc.boolean(),
  producerId: fc.option(fc.oneof(uint, fc.integer({ min: -10, max: -1 }), fc.double({ noNaN: true, noDefaultInfinity: true })), { nil: undefined }),
  sequence: fc.option(uint, { nil: undefined }),
})

t.test('encodePublish writes exactly the bytes of the MessagePack path', async (t) => {
  fc.assert(
    fc.property(fc.oneof(plainPublish, oddPublish), (p) => encodePublish(p).equals(referenceEncode(p))),
    { numRuns: 2000 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('publishFrameAround frames records in place, with the same bytes', async (t) => {
  fc.assert(
    fc.property(plainPublish, fc.nat({ max: 40 }), fc.nat({ max: 40 }), (p, before, after) => {
      const head = publishHeadRoom(p.topic) + before
      const buf = Buffer.alloc(head + p.records.length + PUBLISH_TAIL_ROOM + after, 0xee)
      p.records.copy(buf, head)
      const frame = publishFrameAround(buf, head, head + p.records.length, p)
      if (!frame) return false
      if (frame.buffer !== buf.buffer) return false // a view, not a copy
      return frame.equals(referenceEncode(p))
    }),
    { numRuns: 1000 },
  )
  const records = encodeRecord({ payload: Buffer.from('x') })
  const buf = Buffer.alloc(10 + records.length + PUBLISH_TAIL_ROOM)
  records.copy(buf, 10)
  t.throws(() => publishFrameAround(buf, 10, 10 + records.length, { corr: 1, topic: 'orders', count: 1, confirm: true }), { codeName: 'INTERNAL' }, 'too little room before the records')
  t.equal(publishFrameAround(buf, 10, 10 + records.length, { corr: -1, topic: 'orders', count: 1, confirm: true }), undefined, 'a negative corr is left to encodePublish')
  t.equal(publishFrameAround(buf, 10, 10 + records.length, { corr: 1, topic: 'ordérs', count: 1, confirm: true }), undefined, 'a non-ASCII topic too')
})

const body = (frame: Buffer) => frame.subarray(FRAME_HEADER_BYTES)

t.test('decodePublish returns what the Fields reader returns for every encodable publish', async (t) => {
  fc.assert(
    fc.property(fc.oneof(plainPublish, oddPublish), (p) => {
      const b = body(referenceEncode(p))
      assert.deepStrictEqual(outcome(() => decodePublish(b)), outcome(() => referenceDecode(b)))
    }),
    { numRuns: 1000 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('decodePublish gives the same value or error for hostile bodies', async (t) => {
  const value = fc.oneof(
    uint,
    fc.integer({ min: -(2 ** 40), max: -1 }),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.string({ maxLength: 300, unit: 'binary' }),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
    fc.array(fc.nat(), { maxLength: 3 }),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  )
  const fieldName = fc.constantFrom('corr', 'topic', 'count', 'records', 'confirm', 'producerId', 'sequence', 'other', '__proto__')
  const map = fc.array(fc.tuple(fieldName, value), { maxLength: 9 }).map((entries) => {
    const body: Record<string, unknown> = {}
    for (const [k, v] of entries) Object.defineProperty(body, k, { value: v, enumerable: true, writable: true, configurable: true })
    return pack(body)
  })
  const mutated = fc.tuple(plainPublish, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat()).map(([p, sets, cut]) => {
    const b = Buffer.from(body(referenceEncode(p)))
    for (const [at, v] of sets) b[at % b.length] = v
    return b.subarray(0, b.length - (cut % 3 === 0 ? cut % 7 : 0))
  })
  const bytes = fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u))
  fc.assert(
    fc.property(fc.oneof(map, mutated, bytes), (b) => {
      assert.deepStrictEqual(outcome(() => decodePublish(b)), outcome(() => referenceDecode(b)))
    }),
    { numRuns: 3000 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('fields in another order, 64-bit integer forms and nil optionals decode alike', async (t) => {
  const records = encodeRecord({ key: 'k', payload: Buffer.from('hello') })
  const cases: Buffer[] = [
    pack({ sequence: 3, records, topic: 'orders', count: 1, corr: 9, producerId: 77 }),
    pack({ corr: 2n ** 40n, topic: 'orders', count: 1, records, producerId: 2n ** 47n, sequence: null, confirm: null }),
    pack({ corr: 1, topic: 'orders', count: 1, records, producerId: 2n ** 48n }),
    pack({ corr: 1, topic: 'orders', count: 1, records, confirm: true, sequence: 0xffffffff }),
  ]
  for (const b of cases) t.same(outcome(() => decodePublish(b)), outcome(() => referenceDecode(b)), b.toString('hex'))
  const fast = decodePublish(body(encodePublish({ corr: 5, topic: 'orders', count: 1, records, confirm: true })))
  t.ok(fast.records.equals(records), 'records round-trip')
})
