/**
 * TOPIC_ALTER's `moves` (cluster mode: each partition's new replica set) and
 * `forwarded` from real bytes: what encodes decodes to the same value, and a
 * malformed `moves` is INVALID_REQUEST naming TOPIC_ALTER.moves.
 */
import t from 'tap'
import { MAX_BROKER_ID, MAX_MOVES, MAX_MOVE_REPLICAS, MAX_PARTITIONS, decodeTopicAlter, encodeFrame, encodeTopicAlter, Op, unpack, type TopicAlter } from '../../protocol/index.js'

const body = (a: TopicAlter) => encodeTopicAlter(a).subarray(5)

t.test('moves round-trip, in the order given, with or without other changes', async (t) => {
  const cases: TopicAlter[] = [
    { corr: 1, topic: 'orders', moves: [{ partition: 0, replicas: [2, 3, 4] }] },
    {
      corr: 2,
      topic: 'orders',
      moves: [
        { partition: 5, replicas: [4, 1, 3] },
        { partition: 0, replicas: [1] },
      ],
    },
    { corr: 3, topic: 'orders', retentionMs: 86_400_000, partitions: 6, moves: [{ partition: 1, replicas: [1, 2] }] },
    { corr: 4, topic: 'orders', moves: [{ partition: 2, replicas: [3, 4, 5] }], forwarded: true },
    { corr: 5, topic: 'orders', moves: [{ partition: MAX_PARTITIONS - 1, replicas: Array.from({ length: MAX_MOVE_REPLICAS }, (_, i) => MAX_BROKER_ID - i) }] },
    { corr: 6, topic: 'orders', moves: Array.from({ length: MAX_MOVES }, (_, partition) => ({ partition, replicas: [1, 2, 3] })) },
  ]
  for (const value of cases) t.strictSame(decodeTopicAlter(body(value)), value, `corr ${value.corr}`)
})

t.test('absent moves and forwarded stay absent; forwarded false is not written', async (t) => {
  t.strictSame(decodeTopicAlter(body({ corr: 1, topic: 'orders', partitions: 3 })), { corr: 1, topic: 'orders', partitions: 3 })
  const b = body({ corr: 1, topic: 'orders', retentionMs: 0, forwarded: false })
  t.notOk('forwarded' in (unpack(b) as object), 'the default is left out on the wire')
  t.strictSame(decodeTopicAlter(b), { corr: 1, topic: 'orders', retentionMs: 0 })
  t.strictSame(decodeTopicAlter(encodeFrame(Op.TOPIC_ALTER, { corr: 1, topic: 'o', partitions: 2, forwarded: false }).subarray(5)), { corr: 1, topic: 'o', partitions: 2 })
  t.strictSame(decodeTopicAlter(encodeFrame(Op.TOPIC_ALTER, { corr: 1, topic: 'o', partitions: 2, moves: null }).subarray(5)), { corr: 1, topic: 'o', partitions: 2 }, 'moves: null is absent, as for every field')
})

t.test('a malformed moves is INVALID_REQUEST naming TOPIC_ALTER.moves', async (t) => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1)
  const cases: [string, unknown, RegExp][] = [
    ['not an array', { partition: 0, replicas: [1] }, /an array of 1 to 128 moves/],
    ['a string', '0=1,2', /an array of 1 to 128 moves/],
    ['empty', [], /an array of 1 to 128 moves/],
    ['too many', Array.from({ length: MAX_MOVES + 1 }, (_, partition) => ({ partition, replicas: [1] })), /an array of 1 to 128 moves/],
    ['a move that is not a map', [[0, [1, 2]]], /maps with a partition in 0\.\.1023/],
    ['a move that is null', [null], /maps with a partition in 0\.\.1023/],
    ['no partition', [{ replicas: [1] }], /maps with a partition in 0\.\.1023/],
    ['a negative partition', [{ partition: -1, replicas: [1] }], /maps with a partition in 0\.\.1023/],
    ['a fractional partition', [{ partition: 0.5, replicas: [1] }], /maps with a partition in 0\.\.1023/],
    ['a partition past the limit', [{ partition: MAX_PARTITIONS, replicas: [1] }], /maps with a partition in 0\.\.1023/],
    ['a partition as text', [{ partition: '0', replicas: [1] }], /maps with a partition in 0\.\.1023/],
    [
      'a partition twice',
      [
        { partition: 3, replicas: [1] },
        { partition: 3, replicas: [2] },
      ],
      /distinct partitions: 3 is named twice/,
    ],
    ['no replicas', [{ partition: 0 }], /replicas are 1 to 64 broker ids in 0\.\.65535/],
    ['empty replicas', [{ partition: 0, replicas: [] }], /replicas are 1 to 64 broker ids/],
    ['replicas not an array', [{ partition: 0, replicas: 2 }], /replicas are 1 to 64 broker ids/],
    ['too many replicas', [{ partition: 0, replicas: ids(MAX_MOVE_REPLICAS + 1) }], /replicas are 1 to 64 broker ids/],
    ['a broker id past the limit', [{ partition: 0, replicas: [1, MAX_BROKER_ID + 1] }], /replicas are 1 to 64 broker ids in 0\.\.65535/],
    ['a negative broker id', [{ partition: 0, replicas: [-1] }], /replicas are 1 to 64 broker ids/],
    ['a broker id as text', [{ partition: 0, replicas: ['2'] }], /replicas are 1 to 64 broker ids/],
    ['a broker twice', [{ partition: 4, replicas: [1, 2, 1] }], /replicas are distinct: partition 4 names a broker twice/],
  ]
  for (const [what, moves, message] of cases) {
    const b = encodeFrame(Op.TOPIC_ALTER, { corr: 1, topic: 'orders', moves }).subarray(5)
    t.throws(() => decodeTopicAlter(b), { name: 'SkiffError', codeName: 'INVALID_REQUEST', message: /^TOPIC_ALTER\.moves must be / }, `${what}: names the field`)
    t.throws(() => decodeTopicAlter(b), { message }, `${what}: says what it must be`)
  }
})

t.test('forwarded must be a boolean', async (t) => {
  const b = encodeFrame(Op.TOPIC_ALTER, { corr: 1, topic: 'orders', partitions: 2, forwarded: 'yes' }).subarray(5)
  t.throws(() => decodeTopicAlter(b), { name: 'SkiffError', codeName: 'INVALID_REQUEST', message: /TOPIC_ALTER\.forwarded/ })
})
