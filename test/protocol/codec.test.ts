/**
 * The MessagePack conventions of PROTOCOL.md as the codec applies them:
 * integers stay integers at any size, undefined never becomes an extension
 * type, bodies are one complete value, and 64-bit numbers beyond 2^53 do not
 * sneak through a field check.
 */
import t from 'tap'
import fc from 'fast-check'
import { pack, unpack, unpackPayload, encodeDeliver, encodeOk, decodeOk, decodeDeliver, SkiffError } from '../../protocol/index.js'
import { dumpMsgpack } from './hexdump.js'

const kinds = (bytes: Buffer) => dumpMsgpack(bytes).kinds

t.test('integers of any safe size are written as MessagePack integers, never floats', async (t) => {
  for (const n of [0, 31, 127, 128, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 1700000000000, Number.MAX_SAFE_INTEGER]) {
    const bytes = pack({ n })
    t.notOk(kinds(bytes).has('float'), `${n} is an integer on the wire`)
    t.equal((unpack(bytes) as { n: number }).n, n, `${n} reads back`)
  }
  t.equal(pack(2 ** 32).toString('hex'), 'd30000000100000000', '2^32 is an int64')
  t.equal(pack(-(2 ** 40)).toString('hex'), 'd3ffffff0000000000', 'so is a large negative')
  t.equal(pack(1.5).toString('hex'), 'cb3ff8000000000000', 'a fraction stays a float64')
  fc.assert(
    fc.property(fc.maxSafeInteger(), (n) => {
      const bytes = pack([n])
      return !kinds(bytes).has('float') && (unpack(bytes) as number[])[0] === n
    }),
    { numRuns: 300 },
  )
})

t.test('a DELIVER timestamp is an int64, so strictly typed decoders can read it', async (t) => {
  const frame = encodeDeliver({ sub: 1, messages: [[0, 2 ** 33, 1700000000000, 1, Buffer.alloc(10)]] })
  t.notOk(kinds(frame.subarray(5)).has('float'))
  t.strictSame(decodeDeliver(frame.subarray(5)).messages[0]!.slice(0, 4), [0, 2 ** 33, 1700000000000, 1])
})

t.test('packing does not change the value it is given', async (t) => {
  const messages: [number, number, number, number, Buffer][] = [[0, 1, 1700000000000, 1, Buffer.from('r')]]
  const value = { sub: 1, messages, nested: { ts: 1700000000000 } }
  pack(value)
  t.equal(typeof value.messages[0]![2], 'number')
  t.equal(typeof value.nested.ts, 'number')
  t.equal(value.messages, messages, 'same array, not replaced')
})

t.test('an own "__proto__" key next to a large integer stays a key and pollutes nothing', async (t) => {
  const value = JSON.parse('{"__proto__": {"polluted": 1700000000000}, "a": 1}') as Record<string, unknown>
  const bytes = pack(value)
  t.match(dumpMsgpack(bytes).lines.map((l) => l.note), ['map, 2 entries', '"__proto__"', 'map, 1 entry', '"polluted"', '1700000000000 (int64)', '"a"', '1'])
  const back = unpack(bytes) as Record<string, unknown>
  t.equal(Object.getPrototypeOf(back), Object.prototype)
  t.equal((back as { polluted?: unknown }).polluted, undefined)
  t.equal(({} as { polluted?: unknown }).polluted, undefined)
})

t.test('an undefined property is left out, not written as an extension type', async (t) => {
  t.equal(pack({ a: undefined, b: 1 }).toString('hex'), pack({ b: 1 }).toString('hex'))
  const frame = encodeOk(4, { topic: 'orders', retentionMs: undefined, partitionInfo: [{ partition: 0, corrupt: undefined }] })
  t.notOk(kinds(frame.subarray(5)).has('ext'))
  t.strictSame(decodeOk(frame.subarray(5)), { corr: 4, result: { topic: 'orders', partitionInfo: [{ partition: 0 }] } })
})

t.test('a body is exactly one MessagePack value', async (t) => {
  for (const hex of ['', '8001', '81a161', '92c0']) {
    t.throws(() => unpack(Buffer.from(hex, 'hex')), { name: 'SkiffError', codeName: 'BAD_FRAME' }, `"${hex}"`)
  }
})

t.test('a 64-bit integer beyond 2^53 is refused by field checks, not rounded into a valid id', async (t) => {
  // { corr: uint64 0xffffffffffffffff }
  const body = Buffer.from('81a4636f7272cfffffffffffffffff', 'hex')
  t.throws(() => decodeOk(body), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  const exact = Buffer.from('81a4636f7272cf001fffffffffffff', 'hex') // 2^53 - 1
  t.equal(decodeOk(exact).corr, Number.MAX_SAFE_INTEGER)
})

t.test('decode errors are BAD_FRAME SkiffErrors that say what is wrong', async (t) => {
  const err = t.throws(() => unpack(Buffer.from('c6ffffffff', 'hex'))) as unknown
  t.ok(err instanceof SkiffError)
  t.equal((err as SkiffError).codeName, 'BAD_FRAME')
  t.match((err as SkiffError).message, /runs past the end/)
})

t.test('application payloads decode with extension types the protocol itself refuses', async (t) => {
  // what skiffmq's payload encoder writes for { a: undefined, at: new Date(0) }
  const payload = Buffer.from('82a161d40000a26174d6ff00000000', 'hex')
  t.throws(() => unpack(payload), { name: 'SkiffError', codeName: 'BAD_FRAME' }, 'not as a body')
  const v = unpackPayload(payload) as { a: unknown; at: Date }
  t.equal(v.a, undefined)
  t.equal(v.at.getTime(), 0)
})
