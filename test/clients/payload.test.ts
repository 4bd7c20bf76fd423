import t from 'tap'
import fc from 'fast-check'
import { encodePayload, decodePayload, CONTENT_TYPE } from '../../clients/payload.js'
import { decodeRecord, encodeRecord, isSkiffError } from '../../protocol/index.js'

t.test('bytes go as they are, without a content-type', async (t) => {
  const buf = Buffer.from([0, 1, 2, 255])
  const enc = encodePayload(buf)
  t.equal(enc.bytes, buf)
  t.equal(enc.headers, undefined)
  const u8 = new Uint8Array([9, 8, 7])
  t.same(Buffer.from(encodePayload(u8).bytes), Buffer.from([9, 8, 7]))
  t.same(decodePayload(buf, {}), buf, 'no content-type decodes to the bytes')
})

t.test('strings are UTF-8 text/plain and decode back to strings', async (t) => {
  const enc = encodePayload('héllo ✓', { trace: 'abc' })
  t.same(enc.headers, { trace: 'abc', [CONTENT_TYPE]: 'text/plain; charset=utf-8' })
  t.equal(Buffer.from(enc.bytes).toString('utf8'), 'héllo ✓')
  t.equal(decodePayload(Buffer.from(enc.bytes), enc.headers!), 'héllo ✓')
})

t.test('other values are MessagePack and decode back to equal values', async (t) => {
  const value = { id: 42, items: ['a', 'b'], nested: { ok: true, n: null }, big: 2 ** 40, neg: -7.5 }
  const enc = encodePayload(value)
  t.equal(enc.headers![CONTENT_TYPE], 'application/msgpack')
  t.same(decodePayload(Buffer.from(enc.bytes), enc.headers!), value)
  t.same(decodePayload(Buffer.from(encodePayload(0).bytes), { [CONTENT_TYPE]: 'application/msgpack' }), 0)
  t.same(decodePayload(Buffer.from(encodePayload(null).bytes), { [CONTENT_TYPE]: 'application/msgpack' }), null)
})

t.test('a content-type given by the caller wins, and decode follows it', async (t) => {
  const enc = encodePayload(JSON.stringify({ a: 1 }), { 'content-type': 'application/json' })
  t.equal(enc.headers![CONTENT_TYPE], 'application/json')
  t.same(decodePayload(Buffer.from(enc.bytes), enc.headers!), { a: 1 })
  t.same(decodePayload(Buffer.from('[1,2]'), { 'content-type': 'application/vnd.x+json' }), [1, 2])
  t.equal(decodePayload(Buffer.from('<a/>'), { 'content-type': 'Text/XML; charset=utf-8' }), '<a/>')
  const bin = Buffer.from([1, 2])
  t.equal(decodePayload(bin, { 'content-type': 'application/octet-stream' }), bin)
})

t.test('undefined, unencodable values and lying content-types are SkiffErrors', async (t) => {
  t.throws(() => encodePayload(undefined), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  t.throws(() => encodePayload(10n ** 30n), { name: 'SkiffError', codeName: 'INVALID_REQUEST' }, 'a bigint beyond 64 bits')
  for (const [bytes, type] of [
    [Buffer.from('not json'), 'application/json'],
    [Buffer.from([0x92, 0x01]), 'application/msgpack'],
    [Buffer.from([0x01, 0x02]), 'application/msgpack'],
    [Buffer.alloc(0), 'application/msgpack'],
  ] as const) {
    try {
      decodePayload(bytes, { 'content-type': type })
      t.fail(`decoded ${type} garbage`)
    } catch (err) {
      t.ok(isSkiffError(err, 'INVALID_REQUEST'), `${type}: ${(err as Error).message}`)
    }
  }
})

/** Whether a JSON-like value has a `__proto__` key anywhere (see the test after the next). */
function hasProtoKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasProtoKey)
  if (v === null || typeof v !== 'object') return false
  return Object.keys(v).some((k) => k === '__proto__' || hasProtoKey((v as Record<string, unknown>)[k]))
}

t.test('any JSON-like value survives payload + record encoding and back', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), (value, key) => {
      if (value === undefined || hasProtoKey(value)) return
      const { bytes, headers } = encodePayload(value)
      const rec = decodeRecord(encodeRecord({ key, headers, payload: bytes }))
      t.equal(rec.key, key === '' ? undefined : key)
      const back = decodePayload(rec.payload, rec.headers)
      // -0 goes through MessagePack as 0; JSON-like equality is what users rely on.
      t.same(JSON.stringify(back), JSON.stringify(value))
    }),
    { numRuns: 200 },
  )
})

t.test('a __proto__ key comes back renamed __proto_, never as a prototype', async (t) => {
  // msgpackr's guard against prototype pollution: a MessagePack map from anyone
  // can never set an object's prototype in a consumer.
  const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')
  const { bytes, headers } = encodePayload(value)
  const back = decodePayload(bytes, headers) as Record<string, unknown>
  t.same(JSON.parse(JSON.stringify(back)), { __proto_: { polluted: true }, a: 1 })
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing was polluted')
  t.equal(Object.getPrototypeOf(back), Object.prototype)
})

// A hostile producer's payload must not make a consumer's decode() super-linear:
// a map keyed by a 1 MiB BigInt (msgpackr's extension 0x42) cost about a second
// to turn into a property name. Keys that are extension values or containers are
// refused; what applications put in payloads (dates, undefined, number keys) is not.
t.test('msg.decode() refuses a payload keyed by a BigInt extension, and keeps ordinary extensions and number keys', async (t) => {
  const n = 1024 * 1024
  const head = Buffer.of(0x81, 0xc9, 0, 0, 0, 0, 0x42)
  head.writeUInt32BE(n, 2)
  const bomb = Buffer.concat([head, Buffer.alloc(n, 0x7f), Buffer.of(0xc0)])
  const headers = { [CONTENT_TYPE]: 'application/msgpack' }
  let refused: unknown
  const started = performance.now()
  try {
    decodePayload(bomb, headers)
  } catch (err) {
    refused = err
  }
  t.ok(isSkiffError(refused, 'INVALID_REQUEST'), 'refused as INVALID_REQUEST')
  t.match(String((refused as Error & { cause?: Error })?.cause?.message), /map key .* is not a string/, 'because of the key')
  t.comment(`refused in ${(performance.now() - started).toFixed(1)} ms`)
  const when = new Date('2026-12-04T00:00:00Z')
  const enc = encodePayload({ when, gone: undefined, n: 1 })
  t.same(decodePayload(Buffer.from(enc.bytes), enc.headers!), { when, gone: undefined, n: 1 }, 'a Date and an undefined property decode as written')
  // {1: 'one', 2: 'two'} as another language's encoder writes an int-keyed map
  t.same(decodePayload(Buffer.of(0x82, 0x01, 0xa3, 0x6f, 0x6e, 0x65, 0x02, 0xa3, 0x74, 0x77, 0x6f), headers), { 1: 'one', 2: 'two' })
})
