/**
 * The workload and the read-back against a real broker (port 0, temp data
 * dir), without faults: what the workload logs and what the read-back finds
 * agree, the read-back leaves no group behind and moves no group, and a
 * read-back out of time says what it missed.
 */
import t from 'tap'
import { startTestBroker } from '../e2e/helpers.js'
import { check } from './checker.js'
import { readBack } from './read-back.js'
import { startWorkload } from './workload.js'
import { until } from '../reliability/harness.js'

t.test('a bounded workload, read back: every confirmed record stored once, in order, delivered', async (t) => {
  const tb = await startTestBroker(t, 2)
  const admin = await tb.client()
  await admin.admin.createTopic('orders', { partitions: 3 })
  const w = await startWorkload({ url: tb.url, topic: 'orders', producers: 3, consumers: 2, group: 'billing', keys: 5, rate: 400, maxPerProducer: 300, seed: 7 })
  t.teardown(() => w.close())
  await w.produced
  t.equal(w.attempted.length, 900, 'each producer stopped at its count')
  t.equal(w.confirmed.length, 900, 'every publish confirmed')
  t.same(w.failures, [])
  t.ok(await w.deliveredAll(15_000), 'the group received every confirmed message')
  // The group's last acks may still be on their way when the last message has arrived: take the
  // positions the read-back must not move once every message is acked (900 over the partitions).
  const before = await until(async () => {
    const g = await admin.admin.describeGroup('orders', 'billing')
    return g.partitions.reduce((n, p) => n + p.committed, 0) === 900 ? g : undefined
  }, 10_000)
  t.ok(before, 'the group acked every message')
  if (!before) return

  const back = await readBack({ url: tb.url, topic: 'orders' })
  t.equal(back.complete, true, 'every stored offset was read')
  t.same(back.missing, [])
  t.equal(back.records.length, 900, 'each record read once')
  const report = check({ confirmed: w.confirmed, stored: back.records, attempted: w.attempted, delivered: w.delivered })
  t.comment(report.summary())
  t.equal(report.ok, true, report.summary())

  const after = await admin.admin.describeGroup('orders', 'billing')
  t.same(after.partitions.map((p) => p.committed), before.partitions.map((p) => p.committed), 'the read-back moved no group')
  t.same((await admin.admin.listGroups('orders')).map((g) => g.group), ['billing'], 'the read-back left no group behind')

  // Same seed, same keys: a failing run can be replayed.
  const keys = (ws: typeof w) => ws.confirmed.map((c) => `${c.id}=${c.key}`).sort()
  await admin.admin.createTopic('replay', { partitions: 3 })
  const again = await startWorkload({ url: tb.url, topic: 'replay', producers: 3, consumers: 0, keys: 5, rate: 400, maxPerProducer: 300, seed: 7 })
  t.teardown(() => again.close())
  await again.produced
  t.same(keys(again), keys(w), 'the seed decides every key')
})

t.test('stopProducing ends a timed workload early; every publish it made settles', async (t) => {
  const tb = await startTestBroker(t, 1)
  const admin = await tb.client()
  await admin.admin.createTopic('events')
  const w = await startWorkload({ url: tb.url, topic: 'events', producers: 2, consumers: 1, keys: 3, rate: 200, durationMs: 60_000, seed: 1 })
  t.teardown(() => w.close())
  await new Promise((r) => setTimeout(r, 500))
  w.stopProducing()
  await w.produced
  t.ok(w.attempted.length > 0 && w.attempted.length < 2 * 200 * 60, `stopped early after ${w.attempted.length} publishes`)
  t.equal(w.confirmed.length + w.failures.length, w.attempted.length, 'every attempt settled')
})

t.test('a read-back out of time reports what it did not read', async (t) => {
  const tb = await startTestBroker(t, 1)
  const client = await tb.client()
  await client.admin.createTopic('logs', { partitions: 2 })
  const producer = client.producer()
  await Promise.all(Array.from({ length: 50 }, (_, i) => producer.publish('logs', `m${i}`, { key: `k${i}` })))
  const back = await readBack({ url: tb.url, topic: 'logs', timeoutMs: 1 })
  t.equal(back.complete, false)
  const missingCount = back.missing.reduce((n, m) => n + m.to - m.from, 0)
  t.equal(missingCount + back.records.length, 50, 'read plus missing is everything stored')
  const full = await readBack({ url: tb.url, topic: 'logs' })
  t.equal(full.complete, true)
  t.equal(full.records.length, 50)
  t.ok(full.records.every((r) => r.id === `?${r.partition}:${r.offset}`), 'records without a msg-id header are named by their place')
})
