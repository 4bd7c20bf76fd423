/**
 * Untrusted bytes against the protocol code: random bytes, mutated golden
 * frames and random MessagePack maps go into the frame decoder and into every
 * frame module's decode function. Each call must return a value or throw a
 * SkiffError: never another error type, never a hang, never a polluted
 * prototype, never an allocation sized by a lying length.
 */
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  FrameDecoder,
  SkiffError,
  pack,
  unpack,
  encodeRawFrame,
  decodeRecord,
  decodeRecords,
  walkRecords,
  countRecords,
  readBatchHeader,
  verifyBatch,
  decodePublish,
  decodeDeliver,
  decodePublishAck,
  expandPublishAck,
} from '../../protocol/index.js'
import { FRAME_CODECS } from './frame-table.js'
import { readVectors } from './vector-json.js'

type Decode = (b: Buffer) => unknown

/** Every function that reads untrusted body bytes, including the record layer under PUBLISH and DELIVER. */
const BODY_DECODERS: [string, Decode][] = [
  ...FRAME_CODECS.map((c): [string, Decode] => [c.frame, c.decode]),
  ['unpack', unpack],
  ['PUBLISH records', (b) => {
    const p = decodePublish(b)
    return decodeRecords(p.records, p.count)
  }],
  ['DELIVER records', (b) => decodeDeliver(b).messages.map((m) => decodeRecord(m[4]))],
  ['PUBLISH_ACK expanded', (b) => expandPublishAck(decodePublishAck(b), 3)],
]

/** Every function that reads an untrusted records blob or stored batch. */
const BLOB_DECODERS: [string, Decode][] = [
  ['walkRecords', (b) => walkRecords(b, 2)],
  ['countRecords', countRecords],
  ['decodeRecord', (b) => decodeRecord(b)],
  ['decodeRecords', (b) => decodeRecords(b, 1)],
  ['readBatchHeader', (b) => readBatchHeader(b)],
  ['verifyBatch', (b) => verifyBatch(b)],
]

/** Run fn; a SkiffError is an acceptable answer, anything else thrown is a failure. */
function valueOrSkiffError(what: string, fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof SkiffError)) {
      throw new Error(`${what} threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, { cause: err })
    }
  }
}

function decodeEverything(body: Buffer): void {
  for (const [name, decode] of BODY_DECODERS) valueOrSkiffError(name, () => decode(body))
}

/** Feed a stream in chunks and decode every frame it yields with every decoder; bounded by the bytes fed. */
function feed(stream: Buffer, cuts: number[]): void {
  const d = new FrameDecoder(4096)
  let prev = 0
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
  for (const p of [...points, stream.length]) {
    d.push(stream.subarray(prev, p))
    prev = p
    for (let i = 0; i <= stream.length; i++) {
      let frame
      try {
        frame = d.next()
      } catch (err) {
        if (!(err instanceof SkiffError)) throw err
        if (!['BAD_FRAME', 'FRAME_TOO_LARGE'].includes(err.codeName)) throw err
        return // the stream is unusable after a framing error, as the connection would close
      }
      if (!frame) break
      decodeEverything(frame.body)
    }
  }
}

const vectors = readVectors()
const frameVectors = vectors.filter((v) => v.opcode !== undefined).map((v) => Buffer.from(v.hex, 'hex'))
const blobVectors = vectors.filter((v) => v.opcode === undefined).map((v) => Buffer.from(v.hex, 'hex'))

t.test('random bytes into the frame decoder and every decoder', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
      feed(Buffer.from(bytes), cuts)
    }),
    { numRuns: 300 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('random bodies behind a valid header', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 }), (opcode, body) => {
      feed(encodeRawFrame(opcode, body), [])
    }),
    { numRuns: 300 },
  )
  t.pass('fast-check found no counterexample')
})

const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

function mutate(buf: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(buf)
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length
    if (m.op === 'flip' && b.length > 0) b[at]! ^= 1 << m.bit
    else if (m.op === 'set' && b.length > 0) b[at] = m.value
    else if (m.op === 'truncate') b = b.subarray(0, at)
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)])
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)])
  }
  return b
}

t.test('mutated golden frames, as a raw stream and re-framed with a correct length', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...frameVectors), fc.array(mutation, { minLength: 1, maxLength: 4 }), (frame, ms) => {
      feed(mutate(frame, ms), [])
      const body = mutate(frame.subarray(5), ms)
      feed(encodeRawFrame(frame[4]!, body), [])
      decodeEverything(body)
    }),
    { numRuns: 400 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('mutated records blobs and batches', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...blobVectors), fc.array(mutation, { minLength: 1, maxLength: 4 }), (blob, ms) => {
      const m = mutate(blob, ms)
      for (const [name, decode] of BLOB_DECODERS) valueOrSkiffError(name, () => decode(m))
      // CRC-32 misses a random change with odds of 2^-32: never, at this many runs
      if (verifyBatch(m) && !m.equals(blob)) throw new Error('a changed batch verified')
    }),
    { numRuns: 300 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('random bytes into the records and batch readers', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const b = Buffer.from(bytes)
      for (const [name, decode] of BLOB_DECODERS) valueOrSkiffError(name, () => decode(b))
    }),
    { numRuns: 300 },
  )
  t.pass('fast-check found no counterexample')
})

const FIELD_NAMES = [
  ...new Set(
    frameVectors.flatMap((f) => Object.keys(unpack(f.subarray(5)) as object)).concat(['producerId', 'sequence', 'startValue', 'details', 'result']),
  ),
]
const scalar = fc.oneof(
  fc.integer(),
  fc.maxSafeNat(),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 24 }).map((u) => Buffer.from(u)),
)
const { value: anyValue } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('map')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  map: fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'polluted'), fc.string({ maxLength: 6 })), tie('value'), {
    maxKeys: 4,
  }),
}))
const bodyMap = fc.dictionary(fc.constantFrom(...FIELD_NAMES, '__proto__', 'constructor'), anyValue, { maxKeys: 8 })

t.test('random MessagePack maps with the real field names reach the field checks', async (t) => {
  fc.assert(
    fc.property(bodyMap, (map) => {
      decodeEverything(pack(map))
    }),
    { numRuns: 400 },
  )
  t.pass('fast-check found no counterexample')
})

/** Each served frame's golden body as a map, to be varied field by field. */
const vectorMaps = FRAME_CODECS.filter((c) => c.frame !== 'ERROR').map((codec) => {
  const v = vectors.find((x) => x.frame === codec.frame)!
  return { codec, map: unpack(Buffer.from(v.hex, 'hex').subarray(5)) as Record<string, unknown> }
})
const variedBody = fc.constantFrom(...vectorMaps).chain(({ codec, map }) =>
  fc
    .dictionary(fc.constantFrom(...Object.keys(map), ...FIELD_NAMES), fc.option(anyValue, { nil: undefined }), { maxKeys: 2 })
    .map((changes) => ({ codec, body: pack({ ...map, ...changes }) })),
)

t.test('whatever a decoder accepts, its encoder writes back to the same value', async (t) => {
  // ERROR is left out: its encoder takes a SkiffError, so it only writes codes from the table
  let accepted = 0
  fc.assert(
    fc.property(variedBody, ({ codec, body }) => {
      let value: unknown
      try {
        value = codec.decode(body)
      } catch (err) {
        if (err instanceof SkiffError) return
        throw err
      }
      accepted++
      assert.deepStrictEqual(codec.decode(codec.encode(value).subarray(5)), value, `${codec.frame} re-encodes`)
    }),
    { numRuns: 400 },
  )
  t.ok(accepted > 50, `${accepted} of 400 varied bodies were accepted and re-encoded`)
})

const protoNamesBefore = Object.getOwnPropertyNames(Object.prototype).sort()

/** What a polluted prototype would show: new own properties, or a property every object inherits. */
function pollution(): { added: string[]; inherited: unknown } {
  const names = Object.getOwnPropertyNames(Object.prototype)
  return { added: names.filter((n) => !protoNamesBefore.includes(n)), inherited: ({} as Record<string, unknown>).polluted }
}

t.test('"__proto__" keys in a body do not pollute Object.prototype', async (t) => {
  const evil = '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}'
  const bodies = [
    `{"__proto__": {"polluted": "yes"}, "corr": 1, "sub": 1, "topic": "t", "group": "g", "versions": [1], "client": "c"}`,
    `{"corr": 1, "result": ${evil}}`,
    `{"code": 7, "name": "INVALID_REQUEST", "message": "m", "details": ${evil}}`,
    `{"corr": 1, "result": [${evil}, {"nested": ${evil}}]}`,
  ].map((json) => pack(JSON.parse(json)))
  for (const body of bodies) {
    decodeEverything(body)
    for (const [, decode] of BODY_DECODERS) {
      let value: unknown
      try {
        value = decode(body)
      } catch {
        continue
      }
      if (value && typeof value === 'object') t.equal(Object.getPrototypeOf(value), Object.getPrototypeOf(Array.isArray(value) ? [] : {}))
    }
  }
  t.strictSame(pollution(), { added: [], inherited: undefined }, 'hand-made bodies pollute nothing')
  fc.assert(
    fc.property(anyValue, (v) => {
      decodeEverything(pack({ corr: 1, result: v, details: v, code: 1, name: 'BAD_FRAME', message: '' }))
      return ({} as Record<string, unknown>).polluted === undefined
    }),
    { numRuns: 300 },
  )
  t.strictSame(pollution(), { added: [], inherited: undefined }, 'random bodies pollute nothing')
})

/** A body `{ corr: 1, <field>: <token claiming `claim` units> }` where only 3 bytes follow the claim. */
function lyingBody(field: string, header: number, claim: number): Buffer {
  const head = Buffer.alloc(5)
  head[0] = header
  head.writeUInt32BE(claim, 1)
  const prefix = pack({ corr: 1 }) // 0x81 ...; bump to a 2-entry map
  prefix[0] = 0x82
  return Buffer.concat([prefix, pack(field), head, Buffer.from([0x01, 0x02, 0x03])])
}

t.test('lying MessagePack lengths throw SkiffError without allocating', async (t) => {
  const tokens: [string, number][] = [
    ['bin 32', 0xc6],
    ['str 32', 0xdb],
    ['array 32', 0xdd],
    ['map 32', 0xdf],
    ['ext 32', 0xc9],
  ]
  const fields = ['records', 'topic', 'messages', 'versions', 'result', 'details', 'offsets']
  const before = process.memoryUsage().arrayBuffers
  let cases = 0
  for (const [name, token] of tokens) {
    for (const claim of [2 ** 31, 0xffffffff, 2 ** 24]) {
      for (const field of fields) {
        const body = lyingBody(field, token, claim)
        for (const [decoder, decode] of BODY_DECODERS) {
          try {
            decode(body)
            t.fail(`${decoder} accepted a ${name} claiming ${claim}`)
          } catch (err) {
            if (!(err instanceof SkiffError)) t.fail(`${decoder}: ${name} claiming ${claim} threw ${(err as Error).message}`)
            cases++
          }
        }
      }
      // the same lie at the top level of a body
      const top = Buffer.alloc(5)
      top[0] = token
      top.writeUInt32BE(claim, 1)
      t.throws(() => unpack(top), { name: 'SkiffError', codeName: 'BAD_FRAME' }, `${name} ${claim} at top level`)
    }
  }
  t.equal(cases, tokens.length * 3 * fields.length * BODY_DECODERS.length, 'every lie was refused with a SkiffError')
  const grown = process.memoryUsage().arrayBuffers - before
  t.ok(grown < 16 * 1024 * 1024, `no large allocation (${grown} bytes of ArrayBuffers added)`)
})

t.test('lying record lengths inside a valid frame are INVALID_REQUEST without allocating', async (t) => {
  const before = process.memoryUsage().arrayBuffers
  for (const at of [0, 4, 6]) {
    const rec = Buffer.alloc(12)
    rec.writeUInt32BE(8, 0)
    if (at === 0) rec.writeUInt32BE(0x7fffffff, 0)
    if (at === 4) rec.writeUInt16BE(0xffff, 4)
    if (at === 6) rec.writeUInt32BE(0xfffffff0, 6)
    const body = pack({ corr: 1, topic: 't', count: 1, records: rec })
    t.throws(() => BODY_DECODERS.find(([n]) => n === 'PUBLISH records')![1](body), { name: 'SkiffError', codeName: 'INVALID_REQUEST' }, `lie at ${at}`)
    t.throws(() => countRecords(rec), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  }
  t.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024)
})

t.test('a frame length claiming 2^31 is refused without buffering', async (t) => {
  const d = new FrameDecoder()
  d.push(Buffer.from('80000000', 'hex'))
  t.throws(() => d.next(), { name: 'SkiffError', codeName: 'FRAME_TOO_LARGE' })
  t.equal(d.bufferedBytes, 4)
})
