/**
 * Acks only after the record is stored: three brokers under a confirmed,
 * keyed workload are all SIGKILLed at once at a seeded moment, while
 * confirms are streaming in; started again, every record confirmed before
 * the kill must be back, on every replica the cluster names, at the offset
 * its ack named.
 *
 * What this can and cannot see: SIGKILL ends the process, not the machine,
 * so bytes the broker wrote but did not fsync survive in the page cache. A
 * broker that acked before writing would fail here; one that acked after
 * write() but before fdatasync() would not (that takes a power cut: a VM or
 * a block device that drops unsynced writes). On a cluster with replicas the
 * kill also takes every follower at once, so a leader that confirmed before
 * its in-sync followers stored the record fails here too.
 *
 * SKIFF_FAULT_SEED=<seed> replays the moment of the kill and the keys.
 */
import t from 'tap'
import { faultSeed } from './fault-seed.js'
import { sleep } from '../reliability/harness.js'
import { clusterMissing, connectDirect } from './broker-cluster.js'
import { check } from './checker.js'
import { FaultCluster } from './fault-cluster.js'
import { compareReplicas, readReplicas } from './replicas.js'
import { startWorkload } from './workload.js'

const TOPIC = 'synced'
const PARTITIONS = 3


const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('acks only after the record is stored: every broker SIGKILLed while confirms stream in, every confirmed record is back', async (t) => {
    const { seed, random } = faultSeed(t)
    const cluster = await FaultCluster.start({ args: ['--group-commit-ms', '5', '--no-udp'] })
    t.teardown(() => cluster.close())
    const admin = await connectDirect(cluster.brokers[0]!.runner.url, { name: 'synced' })
    await admin.admin.createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, minInSync: 2 })
    await admin.close()

    const w = await startWorkload({
      url: cluster.seeds,
      topic: TOPIC,
      producers: 3,
      consumers: 0,
      keys: 9,
      rate: 400,
      maxOutstanding: 200,
      seed,
      connect: { requestTimeoutMs: 30_000, drainTimeoutMs: 2000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } },
    })
    t.teardown(() => w.close())
    await sleep(2000 + Math.floor(random() * 2000))
    // Who was in sync, and what the producers had been told, the moment before every broker died.
    const inSync = await cluster.placement(TOPIC)
    const before = [...w.confirmed]
    await Promise.all(cluster.brokers.map((b) => cluster.kill(b.id)))
    t.comment(`killed every broker with ${before.length} confirmed`)
    w.stopProducing()
    await sleep(300)
    await Promise.all(cluster.brokers.map((b) => cluster.restart(b.id)))
    t.ok(await cluster.waitAllRegistered(20_000), 'every broker is back')
    // Publishes that were in flight settle now, against the restarted brokers.
    await w.produced
    const placement = await cluster.placement(TOPIC)
    await w.close()
    await cluster.stopBrokers()

    const replicas = compareReplicas(readReplicas(cluster.brokers, TOPIC, PARTITIONS), placement)
    const report = check({ confirmed: before, stored: replicas.stored })
    t.ok(before.length > 500, `confirms were streaming when the brokers died (${before.length})`)
    t.equal(report.lost.count, 0, `every record confirmed before the kill is stored (seed ${seed}): ${report.summary()}`)
    t.equal(report.offsetMismatch.count, 0, 'at the offset its ack named')
    const all = check({ confirmed: w.confirmed, stored: replicas.stored, attempted: w.attempted })
    t.equal(all.lost.count + all.duplicated.count + all.reordered.count, 0, `nor any confirmed after the restart lost, duplicated or reordered: ${all.summary()}`)
    t.equal(replicas.divergent.count, 0, `the replicas agree offset by offset: ${JSON.stringify(replicas.divergent.examples[0] ?? null)}`)
    // Every member of the in-sync set holds every record confirmed before the kill: a confirm waited for each of them.
    const onEach = new Map<string, Set<string>>()
    for (const r of readReplicas(cluster.brokers, TOPIC, PARTITIONS)) onEach.set(`${r.partition}@${r.broker}`, new Set(r.records.map((x) => x.id)))
    const missingInSync = before.filter((c) => (inSync.get(c.partition)?.isr ?? []).some((b) => !onEach.get(`${c.partition}@${b}`)?.has(c.id)))
    t.equal(missingInSync.length, 0, `every in-sync replica holds every record confirmed before the kill (first missing: ${JSON.stringify(missingInSync[0] ?? null)})`)
  })
}
