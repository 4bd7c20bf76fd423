/**
 * Reconnecting against the real broker, through a link that breaks on
 * purpose (faulty-link.ts): a lost confirm is healed by the idempotent
 * re-send without a duplicate; a connection cut mid-stream loses no message;
 * a broker that is down makes publish fail with TIMEOUT, not hang; a handler
 * that never acks stops at maxInFlight.
 */
import t from 'tap'
import { connect, type Message } from '../../clients/index.js'
import { startFaultyLink } from './faulty-link.js'
import { Reader, eventually, startTestBroker } from './helpers.js'

const FAST = { initialDelayMs: 10, maxDelayMs: 100 }
const WORKERS = 2

t.test('a batch stored whose confirm was lost is confirmed with its original offsets, not stored twice', async (t) => {
  const tb = await startTestBroker(t, WORKERS)
  const link = await startFaultyLink(tb.broker.port)
  t.teardown(link.close)
  const client = await connect(link.url, { reconnect: FAST })
  t.teardown(() => client.close())
  await client.admin.createTopic('idem', { partitions: 3 })
  const producer = client.producer()
  await producer.publish('idem', 'warm-up')
  link.loseNextPublishAck()
  // Keyless records go to the partition the sequence picks; keyed ones by their hash: both must land once.
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => producer.publish('idem', `m${i}`, i % 2 ? { key: `k${i}` } : {})))
  t.equal(link.connections, 2, 'the client reconnected once')
  const [original, resent] = link.publishes.slice(-2)
  t.match(resent, { topic: 'idem', count: 10, producerId: original!.producerId, sequence: original!.sequence }, 'the same batch, sent again')
  t.ok(resent!.records.equals(original!.records), 'byte for byte')

  const d = await client.admin.describeTopic('idem')
  t.equal(d.partitionInfo.reduce((n, p) => n + p.endOffset, 0), 11, 'eleven records stored, not twenty-one')
  const reader = new Reader(await client.subscribe('idem', { group: 'check', from: 'earliest', maxInFlight: 50 }))
  const stored = await reader.take(11)
  t.equal(await reader.next(300), undefined, 'and nothing else')
  for (const [i, r] of results.entries()) {
    const m = stored.find((s) => s.partition === r.partition && s.offset === r.offset)
    t.equal(m?.payload.toString(), `m${i}`, `m${i} is where its confirm says`)
  }
})

t.test('a connection cut mid-stream: the consumer carries on, no message is lost', async (t) => {
  const tb = await startTestBroker(t, WORKERS)
  const link = await startFaultyLink(tb.broker.port)
  t.teardown(link.close)
  const direct = await tb.client()
  const total = 2000
  const producer = direct.producer()
  await Promise.all(Array.from({ length: total }, (_, i) => producer.publish('stream', `s${i}`)))

  const client = await connect(link.url, { reconnect: FAST })
  t.teardown(() => client.close())
  let reconnected = 0
  client.on('reconnect', () => reconnected++)
  const consumer = await client.subscribe('stream', { group: 'g', from: 'earliest', maxInFlight: 100 })
  const seen = new Set<string>()
  let cut = false
  for await (const msg of consumer) {
    seen.add(msg.payload.toString())
    msg.ack()
    if (!cut && seen.size >= 500) {
      cut = true
      link.cutAll()
    }
    if (seen.size === total) break
  }
  t.equal(seen.size, total, 'every message arrived')
  t.equal(reconnected, 1)
  t.equal(link.connections, 2)
})

t.test('publish against a broker that is down fails with TIMEOUT after its timeout', async (t) => {
  const tb = await startTestBroker(t, WORKERS)
  const client = await connect(tb.url, { reconnect: FAST, requestTimeoutMs: 500 })
  t.teardown(() => client.close())
  const producer = client.producer()
  t.same(await producer.publish('down', 'up'), { partition: 0, offset: 0 })
  await tb.broker.close()
  await eventually('reconnecting', async () => client.status === 'reconnecting')
  await t.rejects(producer.publish('down', 'x'), { name: 'SkiffError', codeName: 'TIMEOUT', message: /not confirmed within 500 ms \(not connected: / })
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'TIMEOUT' })
  await t.rejects(client.subscribe('down', { group: 'g' }), { name: 'SkiffError', codeName: 'TIMEOUT' })
  await client.close() // does not wait for a broker that is gone
  t.equal(client.status, 'closed')
})

t.test('a handler that never acks stops at maxInFlight and resumes when it acks', async (t) => {
  const tb = await startTestBroker(t, WORKERS)
  const client = await tb.client()
  const producer = client.producer()
  await Promise.all(Array.from({ length: 12 }, (_, i) => producer.publish('slow', i)))
  const held: Message[] = []
  await client.subscribe('slow', { group: 'g', from: 'earliest', maxInFlight: 5, concurrency: 100 }, (msg) => void held.push(msg))
  await eventually('five messages', async () => held.length === 5)
  await new Promise((r) => setTimeout(r, 300))
  t.equal(held.length, 5, 'no sixth while five are unsettled')
  for (const m of held) m.ack()
  await eventually('ten messages', async () => held.length === 10)
  for (const m of held.slice(5)) m.ack()
  await eventually('all twelve', async () => held.length === 12)
  t.same(held.map((m) => m.decode()), Array.from({ length: 12 }, (_, i) => i), 'in order')
})
