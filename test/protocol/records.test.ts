/**
 * Record encoding and the stored batch: round trips, every way a records blob
 * can be malformed (always INVALID_REQUEST), partition hashing, and batch
 * integrity down to a single flipped bit.
 */
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { crc32 } from 'node:zlib'
import {
  encodeRecord,
  decodeRecord,
  decodeRecords,
  walkRecords,
  countRecords,
  keyHash,
  stringHash,
  encodeBatch,
  writeBatchHeader,
  readBatchHeader,
  verifyBatch,
  batchCrc,
  pack,
  BATCH_HEADER_BYTES,
  BATCH_MAGIC,
  BATCH_MAGIC_V1,
  BATCH_V1_HEADER_BYTES,
  batchHeaderBytes,
  NO_SEQUENCE,
  MAX_KEY_BYTES,
  RECORD_OVERHEAD,
  type RecordInput,
  type RecordView,
} from '../../protocol/index.js'

const INVALID = { name: 'SkiffError', codeName: 'INVALID_REQUEST' }

const recordArb: fc.Arbitrary<RecordInput> = fc.record(
  {
    key: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
    // "__proto__" is left out: skiffmq's decoder renames that one key (see PROTOCOL.md)
    headers: fc.dictionary(
      fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__'),
      fc.string({ maxLength: 20, unit: 'grapheme' }),
      { maxKeys: 4 },
    ),
    payload: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
  },
  { requiredKeys: ['payload'] },
)

/** What decoding gives back for an input: no key and empty headers are the absent forms. */
function expected(r: RecordInput) {
  return { key: r.key || undefined, headers: { ...r.headers }, payload: Buffer.from(r.payload) }
}

const sample: RecordInput[] = [
  { key: 'customer-42', headers: { trace: 'abc', 'content-type': 'application/json' }, payload: Buffer.from('{"id":1}') },
  { payload: Buffer.from('hi') },
  { key: 'k', payload: Buffer.alloc(0) },
  { headers: { only: 'headers' }, payload: Buffer.from([0, 1, 2]) },
]
const sampleBlob = Buffer.concat(sample.map(encodeRecord))

t.test('records round-trip with and without key and headers', async (t) => {
  for (const r of sample) t.strictSame(decodeRecord(encodeRecord(r)), expected(r))
  t.strictSame(decodeRecords(sampleBlob, sample.length), sample.map(expected))
  t.equal(countRecords(sampleBlob), sample.length)
})

t.test('the layout is length, key length, key, headers length, headers, payload', async (t) => {
  const rec = encodeRecord({ key: 'ab', headers: { h: 'v' }, payload: Buffer.from('xyz') })
  const headers = pack({ h: 'v' })
  const want = Buffer.concat([
    Buffer.from([0, 0, 0, 2 + 2 + 4 + headers.length + 3]),
    Buffer.from([0, 2]),
    Buffer.from('ab'),
    Buffer.from([0, 0, 0, headers.length]),
    headers,
    Buffer.from('xyz'),
  ])
  t.equal(rec.toString('hex'), want.toString('hex'))
  t.equal(encodeRecord({ payload: Buffer.alloc(0) }).length, RECORD_OVERHEAD, 'an empty record is the 10-byte overhead')
  t.equal(encodeRecord({ key: '', headers: {}, payload: Buffer.from('p') }).toString('hex'), encodeRecord({ payload: Buffer.from('p') }).toString('hex'), 'empty key and headers are absent')
})

t.test('random records round-trip, alone and as a blob', async (t) => {
  fc.assert(
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 12 }), (recs) => {
      const blob = Buffer.concat(recs.map(encodeRecord))
      assert.equal(countRecords(blob), recs.length)
      assert.deepEqual(decodeRecords(blob, recs.length), recs.map(expected))
      const views: RecordView[] = []
      walkRecords(blob, recs.length, (v, i) => {
        assert.equal(i, views.length)
        views.push(v)
      })
      // views tile the blob and point at the key bytes
      assert.equal(views[0]!.start, 0)
      assert.equal(views.at(-1)!.end, blob.length)
      views.forEach((v, i) => {
        if (i > 0) assert.equal(v.start, views[i - 1]!.end)
        assert.equal(blob.toString('utf8', v.keyStart, v.keyEnd), recs[i]!.key ?? '')
      })
    }),
    { numRuns: 200 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('a record can be decoded from a plain Uint8Array view at an offset', async (t) => {
  const backing = new Uint8Array(sampleBlob.length + 7)
  backing.set(sampleBlob, 7)
  const view = new Uint8Array(backing.buffer, 7, sampleBlob.length)
  t.strictSame(decodeRecords(view, sample.length), sample.map(expected))
})

t.test('keys up to 65535 bytes; longer is INVALID_REQUEST', async (t) => {
  const key = 'k'.repeat(MAX_KEY_BYTES)
  t.equal(decodeRecord(encodeRecord({ key, payload: Buffer.alloc(1) })).key, key)
  t.throws(() => encodeRecord({ key: key + 'k', payload: Buffer.alloc(1) }), INVALID)
  t.throws(() => encodeRecord({ key: 'é'.repeat(32768), payload: Buffer.alloc(1) }), INVALID, 'the limit is in UTF-8 bytes')
})

t.test('walkRecords rejects every truncation of a valid blob', async (t) => {
  for (let n = 0; n < sampleBlob.length; n++) {
    t.throws(() => walkRecords(sampleBlob.subarray(0, n), sample.length), INVALID, `cut at ${n}`)
  }
})

t.test('walkRecords rejects trailing bytes (an overlong blob)', async (t) => {
  for (const extra of [1, 3, 9, 10, 40]) {
    t.throws(() => walkRecords(Buffer.concat([sampleBlob, Buffer.alloc(extra)]), sample.length), INVALID, `${extra} extra`)
  }
})

t.test('walkRecords rejects a count that does not match', async (t) => {
  t.throws(() => walkRecords(sampleBlob, sample.length - 1), INVALID, 'too few')
  t.throws(() => walkRecords(sampleBlob, sample.length + 1), INVALID, 'too many')
  t.throws(() => walkRecords(sampleBlob, 0), INVALID, 'zero')
  t.throws(() => walkRecords(Buffer.alloc(0), 1), INVALID, 'empty blob')
  walkRecords(Buffer.alloc(0), 0)
  t.pass('an empty blob holds zero records')
})

/** The sample's first record with one length field overwritten. */
function corrupt(at: 'length' | 'keyLength' | 'headersLength', value: number): Buffer {
  const rec = Buffer.from(encodeRecord(sample[0]!))
  if (at === 'length') rec.writeUInt32BE(value, 0)
  if (at === 'keyLength') rec.writeUInt16BE(value, 4)
  if (at === 'headersLength') rec.writeUInt32BE(value, 6 + rec.readUInt16BE(4))
  return rec
}

t.test('walkRecords checks every inner length against its record', async (t) => {
  const len = encodeRecord(sample[0]!).length - 4
  for (const bad of [0, 5, len - 1, len + 1, 0xffffffff]) {
    t.throws(() => walkRecords(corrupt('length', bad), 1), INVALID, `record length ${bad}`)
  }
  for (const bad of [len, 0xffff]) t.throws(() => walkRecords(corrupt('keyLength', bad), 1), INVALID, `key length ${bad}`)
  for (const bad of [len, 0x7fffffff, 0xffffffff]) t.throws(() => walkRecords(corrupt('headersLength', bad), 1), INVALID, `headers length ${bad}`)
})

t.test('countRecords rejects what walkRecords rejects', async (t) => {
  t.throws(() => countRecords(Buffer.from('00000000', 'hex')), INVALID, 'a record shorter than the 6 bytes after its length')
  t.throws(() => countRecords(Buffer.from('0000000500000000ff', 'hex')), INVALID, 'length 5')
  t.throws(() => countRecords(Buffer.concat([sampleBlob, Buffer.from([0, 0])])), INVALID, 'a partial length')
  t.throws(() => countRecords(sampleBlob.subarray(0, sampleBlob.length - 1)), INVALID, 'a short last record')
  t.throws(() => countRecords(corrupt('keyLength', 0xffff)), INVALID, 'a key that overruns its record')
  t.equal(countRecords(Buffer.alloc(0)), 0)
})

t.test('headers that are not a MessagePack map of strings are INVALID_REQUEST', async (t) => {
  const withHeaders = (h: Buffer) => {
    const out = Buffer.alloc(10 + h.length + 1)
    out.writeUInt32BE(6 + h.length + 1, 0)
    out.writeUInt32BE(h.length, 6)
    h.copy(out, 10)
    return out
  }
  const cases: [string, Buffer][] = [
    ['not MessagePack', Buffer.from('c1ff', 'hex')],
    ['truncated map', Buffer.from('81a161', 'hex')],
    ['an array', pack(['a', 'b'])],
    ['a string', pack('a=b')],
    ['a number value', pack({ a: 1 })],
    ['a nested map', pack({ a: { b: 'c' } })],
  ]
  for (const [what, h] of cases) {
    walkRecords(withHeaders(h), 1)
    t.throws(() => decodeRecord(withHeaders(h)), INVALID, what)
  }
})

t.test('a "__proto__" header is an ordinary header and pollutes nothing', async (t) => {
  // map { "__proto__": "x", "a": "b" } written by hand: a JS literal would set the prototype instead
  const h = Buffer.from('82a95f5f70726f746f5f5fa178a161a162', 'hex')
  const rec = Buffer.alloc(10 + h.length)
  rec.writeUInt32BE(6 + h.length, 0)
  rec.writeUInt32BE(h.length, 6)
  h.copy(rec, 10)
  const { headers } = decodeRecord(rec)
  t.equal(Object.getPrototypeOf(headers), Object.prototype)
  t.equal(headers.a, 'b')
  t.equal(({} as Record<string, unknown>).x, undefined)
})

t.test('partition hash is 32-bit FNV-1a of the key bytes', async (t) => {
  // published FNV-1a 32 test values
  t.equal(keyHash(Buffer.alloc(0)), 0x811c9dc5)
  t.equal(keyHash(Buffer.from('a')), 0xe40c292c)
  t.equal(keyHash(Buffer.from('foobar')), 0xbf9cf968)
  t.equal(stringHash('ключ'), keyHash(Buffer.from('ключ', 'utf8')), 'strings hash as UTF-8')
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (k) => {
      const h = keyHash(k)
      return Number.isInteger(h) && h >= 0 && h <= 0xffffffff
    }),
    { numRuns: 200 },
  )
})

const twoRecords = Buffer.concat(sample.slice(0, 2).map(encodeRecord))

t.test('a batch round-trips through its header', async (t) => {
  const b = encodeBatch({ baseOffset: 2 ** 40, count: 2, timestamp: 1700000000000.7, records: twoRecords, producerId: 9, baseSequence: 3 })
  t.ok(verifyBatch(b))
  t.strictSame(readBatchHeader(b), {
    baseOffset: 2 ** 40,
    size: BATCH_HEADER_BYTES + twoRecords.length,
    crc: b.readUInt32BE(12),
    magic: 2,
    count: 2,
    timestamp: 1700000000000,
    producerId: 9,
    baseSequence: 3,
    leaderEpoch: 0,
  })
  t.equal(b.subarray(BATCH_HEADER_BYTES).toString('hex'), twoRecords.toString('hex'))
  const plain = readBatchHeader(encodeBatch({ baseOffset: 0, count: 2, timestamp: 1, records: twoRecords }))!
  t.equal(plain.producerId, 0, 'no producer by default')
  t.equal(plain.baseSequence, NO_SEQUENCE)
  t.equal(readBatchHeader(b.subarray(0, BATCH_HEADER_BYTES - 1)), null, 'a short header reads as null')
})

t.test('the CRC covers everything but itself', async (t) => {
  const b = encodeBatch({ baseOffset: 5, count: 2, timestamp: 1700000000000, records: twoRecords })
  t.equal(b.readUInt32BE(12), crc32(Buffer.concat([b.subarray(0, 12), b.subarray(16)])))
  t.equal(batchCrc(b), b.readUInt32BE(12))
})

t.test('writeBatchHeader lets a builder place records itself', async (t) => {
  const input = { baseOffset: 77, count: 2, timestamp: 1700000000000 }
  const out = Buffer.alloc(3 + BATCH_HEADER_BYTES + twoRecords.length)
  writeBatchHeader(out, 3, { ...input, recordsLength: twoRecords.length })
  twoRecords.copy(out, 3 + BATCH_HEADER_BYTES)
  const batch = out.subarray(3)
  batch.writeUInt32BE(batchCrc(batch), 12)
  t.equal(batch.toString('hex'), encodeBatch({ ...input, records: twoRecords }).toString('hex'))
})

t.test('batches back to back are read at their positions', async (t) => {
  const a = encodeBatch({ baseOffset: 0, count: 2, timestamp: 1, records: twoRecords })
  const b = encodeBatch({ baseOffset: 2, count: 4, timestamp: 2, records: sampleBlob })
  const seg = Buffer.concat([a, b])
  const ha = readBatchHeader(seg, 0)!
  const hb = readBatchHeader(seg, ha.size)!
  t.equal(hb.baseOffset, 2)
  t.equal(ha.size + hb.size, seg.length)
  t.ok(verifyBatch(seg.subarray(ha.size, ha.size + hb.size)))
  t.notOk(verifyBatch(seg), 'two batches are not one')
})

t.test('every single flipped bit fails verifyBatch', async (t) => {
  const b = encodeBatch({ baseOffset: 41, count: 2, timestamp: 1700000000000, records: twoRecords })
  let failed = 0
  for (let i = 0; i < b.length * 8; i++) {
    const c = Buffer.from(b)
    c[i >> 3]! ^= 1 << (i & 7)
    if (!verifyBatch(c)) failed++
  }
  t.equal(failed, b.length * 8)
})

t.test('verifyBatch refuses a wrong size, a zero count and a foreign magic even with a matching CRC', async (t) => {
  const b = encodeBatch({ baseOffset: 1, count: 2, timestamp: 1, records: twoRecords })
  t.notOk(verifyBatch(b.subarray(0, b.length - 1)), 'truncated')
  t.notOk(verifyBatch(Buffer.concat([b, Buffer.alloc(1)])), 'trailing byte')
  t.notOk(verifyBatch(b.subarray(0, 20)), 'shorter than a header')
  const resealed = (edit: (c: Buffer) => void) => {
    const c = Buffer.from(b)
    edit(c)
    c.writeUInt32BE(batchCrc(c), 12)
    return c
  }
  t.notOk(verifyBatch(resealed((c) => (c[16] = 3))), 'magic 3')
  t.notOk(verifyBatch(resealed((c) => (c[16] = 1))), 'a magic-2 batch relabelled magic 1: its records do not start where magic 1 says')
  t.notOk(verifyBatch(resealed((c) => c.writeUInt32BE(0, 20))), 'count 0')
  t.notOk(verifyBatch(resealed((c) => c.writeUInt32BE(c.readUInt32BE(8) + 1, 8))), 'length beyond the bytes')
  t.ok(verifyBatch(resealed(() => {})), 'resealing an untouched batch keeps it valid')
})

t.test('a magic-2 batch carries its leader epoch, under the CRC', async (t) => {
  const b = encodeBatch({ baseOffset: 3, count: 2, timestamp: 1, records: twoRecords, leaderEpoch: 0xfffffffe })
  t.equal(b[16], BATCH_MAGIC)
  t.equal(b.readUInt32BE(44), 0xfffffffe, 'the epoch sits at byte 44')
  t.equal(b.subarray(BATCH_HEADER_BYTES).toString('hex'), twoRecords.toString('hex'), 'records start at byte 48')
  t.equal(readBatchHeader(b)!.leaderEpoch, 0xfffffffe)
  t.ok(verifyBatch(b))
  const other = Buffer.from(b)
  other.writeUInt32BE(5, 44)
  t.notOk(verifyBatch(other), 'another epoch fails the CRC')
  t.equal(readBatchHeader(b.subarray(0, BATCH_HEADER_BYTES - 1)), null, 'a magic-2 header cut before its epoch reads as null')
  t.throws(() => encodeBatch({ baseOffset: 0, count: 2, timestamp: 1, records: twoRecords, leaderEpoch: 2 ** 32 }), 'an epoch beyond u32 is refused')
})

t.test('magic 1, the layout before the leader epoch, still reads and verifies as epoch 0', async (t) => {
  const old = encodeBatch({ baseOffset: 9, count: 2, timestamp: 5, records: twoRecords, producerId: 4, baseSequence: 1, magic: BATCH_MAGIC_V1 })
  t.equal(old.length, BATCH_V1_HEADER_BYTES + twoRecords.length)
  t.equal(old.subarray(BATCH_V1_HEADER_BYTES).toString('hex'), twoRecords.toString('hex'), 'records start at byte 44')
  t.strictSame(readBatchHeader(old), { baseOffset: 9, size: old.length, crc: old.readUInt32BE(12), magic: 1, count: 2, timestamp: 5, producerId: 4, baseSequence: 1, leaderEpoch: 0 })
  t.ok(verifyBatch(old))
  t.equal(batchHeaderBytes(1), BATCH_V1_HEADER_BYTES)
  t.equal(batchHeaderBytes(2), BATCH_HEADER_BYTES)
  t.equal(batchHeaderBytes(3), 0, 'an unknown magic has no header size')
  t.throws(() => encodeBatch({ baseOffset: 0, count: 2, timestamp: 1, records: twoRecords, magic: 1, leaderEpoch: 1 }), 'magic 1 cannot carry an epoch')
  t.throws(() => encodeBatch({ baseOffset: 0, count: 2, timestamp: 1, records: twoRecords, magic: 3 }), 'nor can an unknown magic be written')
  const relabelled = Buffer.from(old)
  relabelled[16] = 2
  relabelled.writeUInt32BE(batchCrc(relabelled), 12)
  t.notOk(verifyBatch(relabelled), 'a magic-1 batch relabelled magic 2 does not verify: its first record would be read as the epoch')
})
