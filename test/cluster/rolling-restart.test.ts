/**
 * A rolling restart: three brokers, a topic with three copies and
 * minInSync 2, keyed idempotent producers and an acking consumer group
 * running throughout; each broker in turn is stopped with SIGTERM (it hands
 * its leaderships over first), started again, and the next one waits until
 * every partition's in-sync set is whole again. Nothing confirmed may be
 * lost, stored twice or reordered, no publish may fail, and the group must
 * receive every confirmed record.
 *
 * Seeded: SKIFF_FAULT_SEED=<seed> replays the keys.
 */
import t from 'tap'
import { faultSeed } from './fault-seed.js'
import { sleep, until } from '../reliability/harness.js'
import { check } from './checker.js'
import { expectClean } from './expect-clean.js'
import { readBackLeaders } from './read-back.js'
import { startWorkload } from './workload.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'

const TOPIC = 'rolling'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a rolling restart of every broker under load loses, duplicates and refuses nothing', async (t) => {
    const { seed } = faultSeed(t)
    const cluster = await startCluster(t, { brokers: 3, args: ['--group-commit-ms', '20', '--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'rolling' })
    await admin.admin.createTopic(TOPIC, { partitions: 6, replicationFactor: 3, minInSync: 2 })
    await admin.close()

    const w = await startWorkload({
      url: cluster.seeds,
      topic: TOPIC,
      producers: 2,
      consumers: 2,
      group: 'billing',
      keys: 12,
      rate: 100,
      durationMs: 30_000,
      seed,
      connect: { requestTimeoutMs: 25_000, drainTimeoutMs: 5000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } },
    })
    t.teardown(() => w.close())

    const whole = async (via: string) => {
      const c = await connectDirect(via, { name: 'rolling-watch', requestTimeoutMs: 3000 })
      try {
        const m = await c.admin.metadata([TOPIC])
        return m.brokers.length === 3 && m.topics[0]!.partitions.every((p) => p.isr.length === 3)
      } catch {
        return false
      } finally {
        await c.close().catch(() => undefined)
      }
    }
    await sleep(3000)
    for (const [i, b] of cluster.brokers.entries()) {
      const before = w.confirmed.length
      const handed = b.logged('leadership handed over').length
      t.equal(await b.stop(), 0, `broker ${i + 1} exits cleanly on SIGTERM`)
      t.comment(`broker ${i + 1} stopped (${b.logged('leadership handed over').length - handed} leaderships handed over, ${w.confirmed.length - before} confirms meanwhile)`)
      await b.start()
      const other = cluster.seeds[(i + 1) % 3]!
      t.ok(await until(() => whole(other), 30_000), `every in-sync set is whole again after broker ${i + 1} came back`)
    }

    await w.produced
    t.comment(`produced: ${w.attempted.length} attempted, ${w.confirmed.length} confirmed, ${w.failures.length} failed`)
    t.equal(w.failures.length, 0, `no publish failed (first: ${JSON.stringify(w.failures.slice(0, 2))})`)
    const drained = await w.deliveredAll(30_000)
    await w.close()

    const back = await readBackLeaders({ urls: cluster.seeds, topic: TOPIC, partitions: 6, open: connectDirect })
    t.strictSame(back.unread, [], `all six partitions were read whole from their leaders (missing: ${JSON.stringify(back.missing.slice(0, 5))})`)
    const stored = back.records
    const report = check({ confirmed: w.confirmed, stored, attempted: w.attempted, delivered: w.delivered })
    t.comment(report.summary())
    t.ok(w.confirmed.length > 1000, 'the workload ran through the restarts')
    expectClean(t, report, seed, drained)
  })
}
