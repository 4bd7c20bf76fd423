/**
 * The inputs the golden vectors are made from. `generate.ts` encodes these with
 * the real protocol modules and writes protocol/vectors/*.json; the tests then
 * hold the code to those bytes. Payloads are kept short so the hex examples in
 * PROTOCOL.md stay readable. Timestamps and one offset lie above 2^32 on
 * purpose: they show how large integers travel (int64, 0xd3).
 */
import { encodeRecord, encodeBatch, readBatchHeader, type RecordInput } from '../../protocol/index.js'

export interface VectorSource {
  frame: string
  /** Distinguishes a second vector of the same frame (file `<frame>.<variant>.json`). */
  variant?: string
  note: string
  value: unknown
}

const orderRecord: RecordInput = {
  key: 'customer-42',
  headers: { trace: 'abc' },
  payload: Buffer.from('{"id":1}', 'utf8'),
}
const plainRecord: RecordInput = { payload: Buffer.from('hi', 'utf8') }

const orderBlob = encodeRecord(orderRecord)
const twoRecords = Buffer.concat([orderBlob, encodeRecord(plainRecord)])
// producerId 0 and baseSequence 0xFFFFFFFF (the defaults) mean "no idempotent producer"
const batchInput = { baseOffset: 41, count: 2, timestamp: 1700000000000, records: twoRecords, magic: 1 }
// The layout the broker writes: the same records, appended by the leader of epoch 7.
const epochBatchInput = { ...batchInput, magic: 2, leaderEpoch: 7 }

export const VECTOR_SOURCES: readonly VectorSource[] = [
  {
    frame: 'HELLO',
    note: 'First frame of a connection: the client speaks version 1 and presents a token.',
    value: { versions: [1], client: 'orders-api', token: 's3cret' },
  },
  {
    frame: 'HELLO',
    variant: 'user',
    note: 'A client of a user whose auth-file entry holds a tokenHash names the user, so the broker checks the token against that user alone.',
    value: { versions: [1], client: 'billing-worker', token: 's3cret', user: 'billing' },
  },
  {
    frame: 'WELCOME',
    note: 'The broker chose version 1; limits are the defaults.',
    value: { version: 1, server: 'skiffmq/0.1.0', connectionId: 7, maxFrame: 1048576, heartbeatMs: 5000, idleTimeoutMs: 30000 },
  },
  {
    frame: 'WELCOME',
    variant: 'cluster',
    note: 'From broker 2 of a cluster: brokerId and clusterId name them (a single broker says 0 and its data directory id).',
    value: { version: 1, server: 'skiffmq/0.1.0', connectionId: 7, maxFrame: 1048576, heartbeatMs: 5000, idleTimeoutMs: 30000, brokerId: 2, clusterId: 'prod-eu', clustered: true },
  },
  { frame: 'PING', note: 'Body is an empty map.', value: {} },
  { frame: 'PONG', note: 'Body is an empty map.', value: {} },
  {
    frame: 'ERROR',
    note: 'Answer to request 5: the topic does not exist. Not fatal: the connection stays open.',
    value: { corr: 5, code: 6, name: 'UNKNOWN_TOPIC', message: 'no such topic: orders', details: { topic: 'orders' } },
  },
  {
    frame: 'ERROR',
    variant: 'connection',
    note: 'Connection-level error (no corr): no version in common. Fatal: the broker closes the connection after it.',
    value: { code: 3, name: 'UNSUPPORTED_VERSION', message: 'no protocol version in common', details: { supported: [1] } },
  },
  {
    frame: 'OK',
    note: 'Answer to SUBSCRIBE 2: the topic has 3 partitions, the subscription spans all of them.',
    value: { corr: 2, result: { partitions: 3 } },
  },
  {
    frame: 'ERROR',
    variant: 'not-leader',
    note: 'Answer to PUBLISH 12: this broker does not lead orders/1. Retriable: refresh METADATA (or go straight to the leader named in details) and send again.',
    value: { corr: 12, code: 22, name: 'NOT_LEADER', message: 'broker 1 does not lead orders/1', details: { topic: 'orders', partition: 1, leader: 3, leaderEpoch: 4, host: '10.0.0.3', port: 7600 } },
  },
  {
    frame: 'OK',
    variant: 'metadata',
    note: 'Answer to METADATA 16: two live brokers; orders/0 is led by broker 1, orders/1 by broker 2, each replicated on both.',
    value: {
      corr: 16,
      result: {
        clusterId: 'prod-eu',
        revision: 42,
        brokers: [
          { id: 1, host: '10.0.0.1', port: 7600 },
          { id: 2, host: '10.0.0.2', port: 7600 },
        ],
        topics: [
          {
            topic: 'orders',
            partitions: [
              { partition: 0, leader: 1, leaderEpoch: 1, replicas: [1, 2], isr: [1, 2] },
              { partition: 1, leader: 2, leaderEpoch: 3, replicas: [2, 1], isr: [2] },
            ],
          },
        ],
      },
    },
  },
  {
    frame: 'OK',
    variant: 'no-result',
    note: 'Answer to a request that has no result (UNSUBSCRIBE 3).',
    value: { corr: 3 },
  },
  {
    frame: 'PUBLISH',
    note: 'Two records for topic "orders", confirm wanted (the default, so `confirm` is not sent).',
    value: { corr: 1, topic: 'orders', count: 2, records: twoRecords, confirm: true },
  },
  {
    frame: 'PUBLISH',
    variant: 'fire-and-forget',
    note: 'Fire-and-forget: `confirm: false`, no PUBLISH_ACK will come.',
    value: { corr: 9, topic: 'metrics', count: 1, records: encodeRecord(plainRecord), confirm: false },
  },
  {
    frame: 'PUBLISH',
    variant: 'partition',
    note: 'Both records to partition 2, whatever their keys (a client that routes by itself).',
    value: { corr: 10, topic: 'orders', count: 2, records: twoRecords, confirm: true, partition: 2 },
  },
  {
    frame: 'PUBLISH_ACK',
    note: 'Compact form: both records of PUBLISH 1 went to partition 2, at offsets 41 and 42.',
    value: { corr: 1, partition: 2, offset: 41 },
  },
  {
    frame: 'PUBLISH_ACK',
    variant: 'per-record',
    note: 'Per-record form: record 0 went to partition 0 offset 17, record 1 to partition 2 offset 2^32.',
    value: { corr: 1, partition: [0, 2], offset: [17, 4294967296] },
  },
  {
    frame: 'SUBSCRIBE',
    note: 'Join group "billing" on "orders" from the earliest record, 500 credits.',
    value: {
      corr: 2,
      sub: 1,
      topic: 'orders',
      group: 'billing',
      start: 'earliest',
      maxInFlight: 500,
      ackTimeoutMs: 30000,
      maxDeliveries: 5,
    },
  },
  {
    frame: 'SUBSCRIBE',
    variant: 'timestamp',
    note: 'Replay: a new group starts at the first record appended at or after the timestamp.',
    value: { corr: 4, sub: 2, topic: 'orders', group: 'audit', start: 'timestamp', startValue: 1700000000000, maxInFlight: 100 },
  },
  {
    frame: 'SUBSCRIBE',
    variant: 'partitions',
    note: 'In a cluster: join group "billing" on the partitions of "orders" this broker leads (0 and 3).',
    value: { corr: 5, sub: 3, topic: 'orders', group: 'billing', start: 'earliest', maxInFlight: 100, partitions: [0, 3] },
  },
  {
    frame: 'SUBSCRIBE',
    variant: 'ephemeral',
    note: 'An ephemeral subscription: no group on the wire (decoded as group ""), a group of its own that is never saved and ends with the subscription.',
    value: { corr: 5, sub: 3, topic: 'orders', group: '', ephemeral: true, start: 'latest', maxInFlight: 100 },
  },
  { frame: 'UNSUBSCRIBE', note: 'Leave subscription 1.', value: { corr: 3, sub: 1 } },
  {
    frame: 'DELIVER',
    note: 'One message for subscription 1: partition 2, offset 41, appended at 1700000000000 ms, first delivery.',
    value: { sub: 1, messages: [[2, 41, 1700000000000, 1, orderBlob]] },
  },
  {
    frame: 'ACK',
    note: 'Ack two messages of subscription 1.',
    value: { sub: 1, kind: 'ack', partitions: [2, 2], offsets: [41, 42] },
  },
  {
    frame: 'ACK',
    variant: 'ranges',
    note: 'Ack offsets 41 to 43 of partition 2 and offset 7 of partition 0 as ranges: [partition, firstOffset, count] triples.',
    value: { sub: 1, kind: 'ack', ranges: [2, 41, 3, 0, 7, 1] },
  },
  {
    frame: 'ACK',
    variant: 'nack',
    note: 'Nack one message: redeliver it no sooner than 1 s from now.',
    value: { sub: 1, kind: 'nack', partitions: [0], offsets: [17], delayMs: 1000 },
  },
  {
    frame: 'TOPIC_CREATE',
    note: 'Create "orders" with 3 partitions, keeping 7 days or 1 GiB per partition.',
    value: { corr: 4, topic: 'orders', partitions: 3, retentionMs: 604800000, retentionBytes: 1073741824 },
  },
  {
    frame: 'TOPIC_CREATE',
    variant: 'replicated',
    note: 'In a cluster: "payments" with 6 partitions, 3 copies of each, a publish confirmed once 2 of them hold it.',
    value: { corr: 4, topic: 'payments', partitions: 6, replicationFactor: 3, minInSync: 2 },
  },
  { frame: 'TOPIC_DESCRIBE', note: 'Describe "orders".', value: { corr: 5, topic: 'orders' } },
  { frame: 'TOPIC_LIST', note: 'List all topics.', value: { corr: 6 } },
  { frame: 'TOPIC_DELETE', note: 'Delete "orders".', value: { corr: 7, topic: 'orders' } },
  { frame: 'GROUP_LIST', note: 'List the groups of "orders" (omit topic for all groups).', value: { corr: 8, topic: 'orders' } },
  { frame: 'GROUP_DESCRIBE', note: 'Describe group "billing" of "orders".', value: { corr: 9, topic: 'orders', group: 'billing' } },
  { frame: 'GROUP_DELETE', note: 'Delete group "billing" of "orders", ending its members\' subscriptions if it has any.', value: { corr: 12, topic: 'orders', group: 'billing', force: true } },
  {
    frame: 'GROUP_RESET',
    note: 'Show where group "billing" of "orders" would move on partition 2 if reset to the first message at or after 2026-01-01T00:00:00Z (a dry run).',
    value: { corr: 13, topic: 'orders', group: 'billing', to: 'timestamp', value: 1767225600000, partition: 2, dryRun: true },
  },
  { frame: 'TOPIC_PURGE', note: 'Drop every message of "orders".', value: { corr: 14, topic: 'orders' } },
  { frame: 'TOPIC_ALTER', note: 'Keep "orders" for 3 days and grow it to 6 partitions.', value: { corr: 15, topic: 'orders', retentionMs: 259200000, partitions: 6 } },
  {
    frame: 'TOPIC_ALTER',
    variant: 'moves',
    note: 'In a cluster: move partition 0 of "orders" (3 copies) to brokers 2, 3 and 4, and partition 1 to brokers 1, 3 and 4.',
    value: {
      corr: 15,
      topic: 'orders',
      moves: [
        { partition: 0, replicas: [2, 3, 4] },
        { partition: 1, replicas: [1, 3, 4] },
      ],
    },
  },
  { frame: 'METADATA', note: 'Where the partitions of "orders" live (omit topics for every topic the user may describe).', value: { corr: 16, topics: ['orders'] } },
  {
    frame: 'REPL_FETCH',
    note: 'Broker 2 (this process\'s incarnation) fetches orders/0 from its leader, which it believes is in epoch 3: it holds offsets 0-41, its last batch of epoch 3; the leader may hold the fetch 500 ms while it has nothing new.',
    value: { corr: 17, brokerId: 2, incarnation: '5f0c', maxWaitMs: 500, partitions: [{ topic: 'orders', partition: 0, leaderEpoch: 3, fetchOffset: 42, lastFetchedEpoch: 3 }] },
  },
  {
    frame: 'REPL_DATA',
    note: 'The leader of orders/0 answers fetch 17: high watermark 42, its end 44, the one stored batch after offset 41 (two records, epoch 3) byte for byte.',
    value: { corr: 17, partitions: [{ topic: 'orders', partition: 0, hw: 42, leaderEnd: 44, batches: encodeBatch({ baseOffset: 42, count: 2, timestamp: 1767225600000, records: twoRecords, leaderEpoch: 3 }) }] },
  },
  { frame: 'SERVE', note: 'Answer requests on "greet".', value: { corr: 10, topic: 'greet' } },
  { frame: 'UNSERVE', note: 'Stop answering requests on "greet".', value: { corr: 11, topic: 'greet' } },
  {
    frame: 'REQUEST',
    note: 'A request on "greet" carrying one record, waiting at most 5 s for the reply.',
    value: { corr: 12, topic: 'greet', record: encodeRecord(plainRecord), timeoutMs: 5000 },
  },
  {
    frame: 'REQUEST',
    variant: 'forwarded',
    note: 'In a cluster, broker to peer broker: the first broker has no server of "greet" and 4.2 s of the requester\'s deadline left; the peer serves it locally or answers NO_RESPONDERS, and never forwards it again.',
    value: { corr: 3, topic: 'greet', record: encodeRecord(plainRecord), timeoutMs: 4200, forwarded: true },
  },
  { frame: 'REPLY', note: 'The reply to request 12: one record.', value: { corr: 12, record: encodeRecord(plainRecord) } },
  {
    frame: 'RECORDS',
    note: 'A records blob of two records: one with key and headers, one with neither.',
    value: { count: 2, records: [orderRecord, { headers: {}, payload: plainRecord.payload }] },
  },
  {
    frame: 'BATCH',
    note: 'A stored batch in the magic-1 layout (written before the leader epoch) holding the two records above, base offset 41, no idempotent producer.',
    value: { ...readBatchHeader(encodeBatch(batchInput)), records: twoRecords },
  },
  {
    frame: 'BATCH',
    variant: 'magic2',
    note: 'The same batch in the magic-2 layout the broker writes, appended by the leader of epoch 7 (a single node writes 0).',
    value: { ...readBatchHeader(encodeBatch(epochBatchInput)), records: twoRecords },
  },
]
