/**
 * The cursor reader (protocol/msgpack-read.ts) that PUBLISH's and DELIVER's
 * hand decoders share: random frames round-trip encode -> decode through it,
 * and every truncation of them is refused with the error the general path
 * gives (the one these frames were refused with before the hand readers).
 * The readers themselves read what the generic packer writes and, short of
 * bytes, give -1 and leave the cursor where it was.
 */
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  DeliveryView,
  Fields,
  FRAME_HEADER_BYTES,
  SkiffError,
  decodeDeliver,
  decodePublish,
  decodeRecord,
  encodeDeliver,
  encodePublish,
  encodeRecord,
  pack,
  readDeliver,
  type Delivery,
  type Publish,
} from '../../protocol/index.js'
import { Cursor, readArrayHeader, readBin, readMapHeader, readStr, readUint, skipUints } from '../../protocol/msgpack-read.js'

const body = (frame: Buffer): Buffer => frame.subarray(FRAME_HEADER_BYTES)

/** The error a decode throws, as code name and message; a non-SkiffError fails the test. */
function refusal(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof SkiffError)) throw err
    return `${err.codeName}: ${err.message}`
  }
  return 'accepted'
}

/** Integers around every MessagePack size boundary, up to 2^53 - 1. */
const uint = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0xffff }),
  fc.integer({ min: 0x10000, max: 0xffffffff }),
  fc.integer({ min: 0x100000000, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER),
)

const ascii = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 249 })

const recordArb = fc.record({
  key: fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }),
  // "__proto__" is left out: skiffmq's decoder renames that one key (PROTOCOL.md; fuzz.test.ts covers it).
  headers: fc.option(
    fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }).filter((k) => k !== '__proto__'), fc.string({ maxLength: 20 }), { maxKeys: 3 }).map((h) => ({ ...h })),
    { nil: undefined },
  ),
  payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
})

const publishArb = fc
  .record({
    corr: uint,
    topic: ascii,
    records: fc.array(recordArb, { minLength: 1, maxLength: 4 }),
    confirm: fc.boolean(),
    producerId: fc.option(fc.integer({ min: 1, max: 2 ** 48 - 1 }), { nil: undefined }),
    sequence: fc.option(fc.integer({ min: 0, max: 0xfffffffe }), { nil: undefined }),
  })
  .map(
    (p): Publish => ({
      corr: p.corr,
      topic: p.topic,
      count: p.records.length,
      records: Buffer.concat(p.records.map((r) => encodeRecord(r))),
      confirm: p.confirm,
      producerId: p.producerId,
      sequence: p.sequence,
    }),
  )

/** The Fields-based reading: the general path decodePublish hands every body it does not read by hand. */
function generalPublish(b: Buffer): Publish {
  const f = new Fields('PUBLISH', b)
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

t.test('PUBLISH: random frames round-trip, truncations are refused as the general path refuses them', async (t) => {
  fc.assert(
    fc.property(publishArb, fc.nat(), (p, cut) => {
      const b = body(encodePublish(p))
      assert.deepEqual(decodePublish(b), p)
      const short = b.subarray(0, cut % b.length)
      const error = refusal(() => decodePublish(short))
      assert.match(error, /^(BAD_FRAME|INVALID_REQUEST): /)
      assert.equal(error, refusal(() => generalPublish(short)))
    }),
    { numRuns: 500 },
  )
})

const deliveryArb = fc.tuple(uint, uint, uint, fc.integer({ min: 1, max: 1000 }), recordArb)

interface Seen {
  partition: number
  offset: number
  timestamp: number
  deliveryCount: number
  key: string | undefined
  headers: Record<string, string>
  payload: string
}

/** What the consumer reads from a DELIVER body: forEachView with one view for all messages. */
function viaView(b: Buffer): Seen[] {
  const f = readDeliver(b)
  assert.equal(f.byHand, true, 'walked by the cursor reader, not the generic decoder')
  const seen: Seen[] = []
  f.forEachView(new DeliveryView(), (v) => {
    seen.push({
      partition: v.partition,
      offset: v.offset,
      timestamp: v.timestamp,
      deliveryCount: v.deliveryCount,
      key: v.keyEnd > v.keyStart ? v.bytes.toString('utf8', v.keyStart, v.keyEnd) : undefined,
      headers: v.headers ?? {},
      payload: v.bytes.toString('hex', v.payloadStart, v.payloadEnd),
    })
  })
  return seen
}

/** decodeDeliver then decodeRecord on every record: the general path readDeliver falls back to. */
function generalDeliver(b: Buffer): void {
  for (const m of decodeDeliver(b).messages) decodeRecord(m[4])
}

t.test('DELIVER: random frames round-trip through the view, truncations are refused as the general path refuses them', async (t) => {
  fc.assert(
    fc.property(uint.filter((n) => n <= 0xffffffff), fc.array(deliveryArb, { maxLength: 20 }), fc.nat(), (sub, ds, cut) => {
      const messages: Delivery[] = ds.map(([p, o, ts, n, r]) => [p, o, ts, n, encodeRecord(r)])
      const b = body(encodeDeliver({ sub, messages }))
      assert.equal(readDeliver(b).sub, sub)
      assert.deepEqual(
        viaView(b),
        ds.map(([partition, offset, timestamp, deliveryCount, r]) => ({
          partition,
          offset,
          timestamp,
          deliveryCount,
          key: r.key,
          headers: r.headers ?? {},
          payload: r.payload.toString('hex'),
        })),
      )
      const short = b.subarray(0, cut % b.length)
      const error = refusal(() => readDeliver(short))
      assert.match(error, /^(BAD_FRAME|INVALID_REQUEST): /)
      assert.equal(error, refusal(() => generalDeliver(short)))
    }),
    { numRuns: 300 },
  )
})

t.test('the readers read what the generic packer writes, and give -1 with the cursor unmoved when bytes are missing', async (t) => {
  fc.assert(
    fc.property(uint, fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 70_000 }), fc.integer({ min: 0, max: 70_000 }), (n, s, bin, entries) => {
      const packed = Buffer.concat([pack(n), pack(s), pack(Buffer.from(bin))])
      const c = new Cursor(packed)
      assert.equal(readUint(c), n)
      const strStart = readStr(c)
      assert.equal(packed.toString('utf8', strStart, c.pos), s)
      const binStart = readBin(c)
      assert.deepEqual(packed.subarray(binStart, c.pos), Buffer.from(bin))
      assert.equal(c.pos, packed.length)
      // Containers: only the header is read.
      const map = pack(Object.fromEntries(Array.from({ length: Math.min(entries, 300) }, (_, i) => [`k${i}`, i])))
      assert.equal(readMapHeader(new Cursor(map)), Math.min(entries, 300))
      const array = new Cursor(pack(new Array(entries).fill(0)))
      assert.equal(readArrayHeader(array), entries)
      assert.equal(skipUints(array, entries), true)
      assert.equal(array.pos, array.buf.length)
      // Every strict prefix of a value is refused, and the cursor stays put.
      for (const [value, read] of [
        [pack(n), readUint],
        [pack(s), readStr],
        [pack(Buffer.from(bin)), readBin],
      ] as const) {
        for (const cut of [0, 1, value.length >> 1, value.length - 1]) {
          if (cut >= value.length) continue
          const short = new Cursor(value.subarray(0, cut))
          assert.equal(read(short), -1)
          assert.equal(short.pos, 0)
        }
      }
    }),
    { numRuns: 200 },
  )
})

t.test('readUint refuses what is not a non-negative safe integer', async (t) => {
  for (const v of [-1, -200, 1.5, 2 ** 53, 2 ** 60, 'x', null, true]) {
    const c = new Cursor(pack(v))
    t.equal(readUint(c), -1, String(v))
    t.equal(c.pos, 0)
  }
})
