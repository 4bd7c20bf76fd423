/**
 * REPL_DATA is written by hand, in pieces, so that a leader's batches go to
 * the socket without being copied; joined, the pieces must be byte for byte
 * what the generic MessagePack path writes, for every size class of every
 * field, and the large batches must be the caller's own bytes.
 */
import t from 'tap'
import fc from 'fast-check'
import { decodeReplData, encodeReplData, encodeReplDataChunks, type FetchedPartition } from '../../protocol/index.js'

const uint = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0xffff }),
  fc.integer({ min: 0x10000, max: 0xffffffff }),
  fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }),
)
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.integer({ min: 4000, max: 5000 }).map((n) => new Uint8Array(n).fill(3)),
  fc.integer({ min: 65536, max: 70000 }).map((n) => new Uint8Array(n).fill(7)),
)
const partition: fc.Arbitrary<FetchedPartition> = fc.record(
  {
    topic: fc.oneof(fc.string({ minLength: 1, maxLength: 31 }), fc.string({ minLength: 32, maxLength: 249 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 })),
    partition: fc.integer({ min: 0, max: 0xffffffff }),
    hw: uint,
    leaderEnd: uint,
    batches: bytes,
    divergingEpoch: fc.record({ epoch: fc.integer({ min: 0, max: 0xffffffff }), endOffset: uint }),
    error: fc.constantFrom('NOT_LEADER', 'UNKNOWN_TOPIC_OR_PARTITION'),
    groups: fc.uint8Array({ maxLength: 400 }),
    logStart: uint,
  },
  { requiredKeys: ['topic', 'partition', 'hw', 'leaderEnd', 'batches'] },
)

t.test('the pieces of REPL_DATA, joined, are the generic encoder\'s bytes', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(partition, { maxLength: 20 }), (corr, partitions) => {
      const chunks = encodeReplDataChunks({ corr, partitions })
      return Buffer.concat(chunks).equals(encodeReplData({ corr, partitions }))
    }),
    { numRuns: 300 },
  )
  // An array of more than 15 partitions (array16 header), decoded back.
  const many = Array.from({ length: 40 }, (_, i) => ({ topic: `t${i}`, partition: i, hw: i, leaderEnd: i + 1, batches: new Uint8Array([i]) }))
  const joined = Buffer.concat(encodeReplDataChunks({ corr: 9, partitions: many }))
  t.ok(joined.equals(encodeReplData({ corr: 9, partitions: many })), '40 partitions')
  t.same(decodeReplData(joined.subarray(5)).partitions.map((p) => p.partition), many.map((p) => p.partition))
})

t.test('large batches are sent as the caller\'s bytes, small ones copied into the head', async (t) => {
  const large = new Uint8Array(64 * 1024).fill(1)
  const small = new Uint8Array(100).fill(2)
  const chunks = encodeReplDataChunks({
    corr: 1,
    partitions: [
      { topic: 'a', partition: 0, hw: 1, leaderEnd: 2, batches: large },
      { topic: 'b', partition: 0, hw: 1, leaderEnd: 2, batches: small },
      { topic: 'c', partition: 0, hw: 1, leaderEnd: 2, batches: large },
    ],
  })
  t.equal(chunks.length, 5, 'head, batches, head, batches, tail')
  t.equal(chunks[1], large, 'the first large batches, not a copy')
  t.equal(chunks[3], large, 'the second large batches, not a copy')
  t.notOk(chunks.some((c) => c === small), 'the small batches are inside a head piece')
  const body = Buffer.concat(chunks).subarray(5)
  t.same(decodeReplData(body).partitions.map((p) => p.batches.length), [large.length, small.length, large.length])
})
