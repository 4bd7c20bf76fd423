/**
 * skiff_consumer_lag after a restart: a group whose consumers have not come
 * back is exactly the group the lag alert is for, so its lag must be on
 * /metrics from the broker's start, per partition, equal to what it has not
 * acked. A real broker process is stopped (SIGTERM, then SIGKILL) and started
 * again on the same data dir with no consumer connected.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { connect, type Client } from '../../clients/index.js'
import { spawnBroker, type BrokerProcess } from '../broker/broker-process.js'
import { Reader, publishAll, startTestBroker } from '../e2e/helpers.js'
import { scrape, scrapeWhen, sum, value } from './scrape.js'

const PARTITIONS = 3

async function stop(broker: BrokerProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (broker.child.exitCode !== null || broker.child.signalCode !== null) return
  broker.child.kill(signal)
  await broker.exited
}

const httpPortOf = (b: BrokerProcess) => b.lines.find((l) => l.msg === 'listening')!.httpPort as number

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`lag of a group with no consumer is on /metrics right after a ${signal} restart`, async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-lag-restart-'))
    // A short group commit so that, under SIGKILL, the acks are on disk by the time the broker dies.
    const args = ['--data-dir', dataDir, '--workers', '2', '--http-port', '0', '--no-udp', '--group-commit-ms', '20']
    let broker = await spawnBroker(args)
    const clients: Client[] = []
    t.teardown(async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
      await stop(broker, 'SIGKILL')
      fs.rmSync(dataDir, { recursive: true, force: true })
    })
    const client = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'lag-restart', requestTimeoutMs: 10_000 })
    clients.push(client)
    await client.admin.createTopic('orders', { partitions: PARTITIONS })
    const producer = client.producer()
    const publish = (from: number, n: number) => Promise.all(Array.from({ length: n }, (_, i) => producer.publish('orders', `order ${from + i}`, { key: `customer-${(from + i) % 11}` })))

    // The group reads 30 and acks 12 of them; 18 stay delivered and unacked.
    const published = await publish(0, 30)
    const consumer = await client.subscribe('orders', { group: 'billing', from: 'earliest', maxInFlight: 100 })
    const reader = new Reader(consumer)
    const got = await reader.take(30)
    const acked = got.slice(0, 12)
    for (const m of acked) m.ack()
    const backlogBefore = 30 - 12
    // The acks reached the broker once its lag says so.
    await scrapeWhen(httpPortOf(broker), (s) => sum(s, 'skiff_consumer_lag', { group: 'billing' }) === backlogBefore)
    // The 18 it holds stay unacked: it leaves without waiting for them.
    await consumer.close({ timeoutMs: 0 })
    // More arrives while nobody consumes.
    published.push(...(await publish(30, 25)))
    await client.close()
    clients.length = 0

    const expected = new Map<number, number>()
    for (const r of published) expected.set(r.partition, (expected.get(r.partition) ?? 0) + 1)
    for (const m of acked) expected.set(m.partition, expected.get(m.partition)! - 1)
    t.equal([...expected.values()].reduce((a, b) => a + b, 0), 55 - 12, 'the real backlog: 55 published, 12 acked')

    if (signal === 'SIGKILL') {
      // Under SIGKILL a group keeps only what its last save wrote (every 20 ms here); wait for a few saves.
      await new Promise((r) => setTimeout(r, 300))
    }
    await stop(broker, signal)
    broker = await spawnBroker(args)

    // No consumer connects. The first scrape after "listening" already has the lag of every partition.
    const s = await scrape(httpPortOf(broker))
    for (let p = 0; p < PARTITIONS; p++) {
      t.equal(value(s, 'skiff_consumer_lag', { topic: 'orders', group: 'billing', partition: String(p) }), expected.get(p) ?? 0, `partition ${p}: lag is its unacked records`)
    }
    t.equal(sum(s, 'skiff_consumer_lag', { topic: 'orders', group: 'billing' }), 43, 'the group lags by 43 in all')
  })
}

t.test('past maxMetricGroups, the lag of groups known only from disk is folded into group="_other"', async (t) => {
  const tb = await startTestBroker(t, 1, { maxMetricGroups: 2 })
  const client = await tb.client()
  await client.admin.createTopic('jobs')
  await publishAll(client, 'jobs', Array.from({ length: 10 }, (_, i) => `job ${i}`))
  const lags = new Map<string, number>()
  for (const [group, acks] of [['g1', 1], ['g2', 2], ['g3', 3]] as const) {
    const consumer = await client.subscribe('jobs', { group, from: 'earliest', maxInFlight: 10 })
    for (const m of await new Reader(consumer).take(acks)) m.ack()
    await consumer.close({ timeoutMs: 0 })
    lags.set(group, 10 - acks)
  }
  await tb.restart()

  const s = await scrape(tb.broker.httpPort)
  const named = [...lags.keys()].filter((g) => s.has(`skiff_consumer_lag{group="${g}",partition="0",topic="jobs"}`))
  t.equal(named.length, 2, 'two groups have series of their own')
  for (const g of named) t.equal(value(s, 'skiff_consumer_lag', { topic: 'jobs', group: g, partition: '0' }), lags.get(g), `${g}: its own lag`)
  const folded = [...lags.keys()].find((g) => !named.includes(g))!
  t.equal(value(s, 'skiff_consumer_lag', { topic: 'jobs', group: '_other', partition: '0' }), lags.get(folded), 'the third is reported as _other')
  t.equal(sum(s, 'skiff_consumer_lag', { topic: 'jobs' }), 9 + 8 + 7, 'nothing lost by folding')
})
