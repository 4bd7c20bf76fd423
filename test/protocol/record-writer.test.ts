/**
 * RecordWriter (encodeRecord in two steps, used to write records straight
 * into a producer's batch) against the one-Buffer-per-record encoder it
 * replaced: the same bytes for any key, headers and payload, written at any
 * offset of a larger buffer without touching the bytes around it, and the
 * same error for an oversize key.
 */
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MAX_KEY_BYTES, RecordWriter, SkiffError, encodeRecord, pack, type RecordInput } from '../../protocol/index.js'

/** The encoder before RecordWriter, kept here as the reference. */
function referenceEncode(rec: RecordInput): Buffer {
  const key = rec.key === undefined ? undefined : Buffer.from(rec.key, 'utf8')
  if (key && key.length > MAX_KEY_BYTES) throw new SkiffError('INVALID_REQUEST', `key of ${key.length} bytes exceeds ${MAX_KEY_BYTES}`)
  const headers = rec.headers && Object.keys(rec.headers).length > 0 ? pack(rec.headers) : undefined
  const keyLen = key?.length ?? 0
  const hdrLen = headers?.length ?? 0
  const len = 2 + keyLen + 4 + hdrLen + rec.payload.length
  const out = Buffer.allocUnsafe(4 + len)
  out.writeUInt32BE(len, 0)
  out.writeUInt16BE(keyLen, 4)
  if (key) key.copy(out, 6)
  out.writeUInt32BE(hdrLen, 6 + keyLen)
  if (headers) headers.copy(out, 10 + keyLen)
  out.set(rec.payload, 10 + keyLen + hdrLen)
  return out
}

const record: fc.Arbitrary<RecordInput> = fc.record({
  // 'binary' units include lone surrogates, which UTF-8 encoding replaces
  key: fc.option(fc.string({ maxLength: 40, unit: 'binary' }), { nil: undefined }),
  headers: fc.option(fc.dictionary(fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__'), fc.string({ maxLength: 20, unit: 'grapheme' }), { maxKeys: 4 }), { nil: undefined }),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  ),
})

t.test('encodeRecord gives the bytes of the one-Buffer encoder', async (t) => {
  fc.assert(
    fc.property(record, (rec) => encodeRecord(rec).equals(referenceEncode(rec))),
    { numRuns: 2000 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('writeTo writes the record at an offset and nothing around it', async (t) => {
  const w = new RecordWriter()
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 5 }), fc.nat({ max: 30 }), (recs, lead) => {
      const want = Buffer.concat(recs.map(referenceEncode))
      const out = Buffer.alloc(lead + want.length + 7, 0xee)
      let pos = lead
      for (const r of recs) {
        const n = w.measure(r.key, r.headers, r.payload)
        assert.equal(w.length, n)
        assert.equal(w.writeTo(out, pos), pos + n)
        pos += n
      }
      assert.ok(out.subarray(lead, pos).equals(want))
      assert.ok(out.subarray(0, lead).every((b) => b === 0xee))
      assert.ok(out.subarray(pos).every((b) => b === 0xee))
    }),
    { numRuns: 500 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('an oversize key is refused with the same error, measured in UTF-8 bytes', async (t) => {
  for (const key of ['k'.repeat(MAX_KEY_BYTES + 1), 'é'.repeat(MAX_KEY_BYTES / 2 + 1)]) {
    const rec = { key, payload: Buffer.from('x') }
    let want: unknown
    try {
      referenceEncode(rec)
    } catch (err) {
      want = err
    }
    t.throws(() => encodeRecord(rec), { name: 'SkiffError', codeName: 'INVALID_REQUEST', message: (want as Error).message })
  }
  t.equal(encodeRecord({ key: 'k'.repeat(MAX_KEY_BYTES), payload: Buffer.alloc(0) }).length, 10 + MAX_KEY_BYTES, 'the largest key fits')
})
