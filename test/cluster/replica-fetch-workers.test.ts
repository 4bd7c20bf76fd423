/**
 * A follower's fetches are made by the worker that owns each partition,
 * over a link of its own to the leader (worker/leader-fetchers.ts). With two
 * workers per broker, a leader is fetched from by both workers of each
 * follower, each naming only its own partitions: every partition, whichever
 * worker owns it, must reach every replica, and every confirmed record be on
 * all three copies byte for byte.
 */
import t from 'tap'
import { clusterMissing, connectDirect } from './broker-cluster.js'
import { FaultCluster } from './fault-cluster.js'
import { compareReplicas, readReplicas } from './replicas.js'
import { ID_HEADER } from './read-back.js'
import { connect } from '../../clients/index.js'
import { ownerOf } from '../../broker/routing.js'
import { until } from '../reliability/harness.js'

const TOPIC = 'split-fetch'
const PARTITIONS = 4
const WORKERS = 2
const RECORDS = 200

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('two workers per broker: each fetches its own partitions, and every replica gets every confirmed record', async (t) => {
    const owners = new Set(Array.from({ length: PARTITIONS }, (_, p) => ownerOf(TOPIC, p, WORKERS)))
    t.equal(owners.size, WORKERS, 'the topic has partitions on both workers of each broker')

    const cluster = await FaultCluster.start({ args: ['--workers', String(WORKERS), '--no-udp'] })
    t.teardown(() => cluster.close())
    const admin = await connectDirect(cluster.brokers[0]!.runner.url, { name: 'split-admin' })
    await admin.admin.createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, minInSync: 2 })
    await admin.close()

    const client = await connect(cluster.seeds, { name: 'split', requestTimeoutMs: 20_000 })
    t.teardown(() => client.close())
    const confirmed: { id: string; partition: number; offset: number }[] = []
    const producer = client.producer()
    for (let i = 0; i < RECORDS; i++) {
      const id = `r-${i}`
      const { partition, offset } = await producer.publish(TOPIC, id, { key: `k${i}`, headers: { [ID_HEADER]: id } })
      confirmed.push({ id, partition, offset })
    }
    t.equal(new Set(confirmed.map((c) => c.partition)).size, PARTITIONS, `${RECORDS} records confirmed over all ${PARTITIONS} partitions`)

    const inSync = await until(async () => [...(await cluster.placement(TOPIC)).values()].every((p) => p.isr.length === 3), 15_000)
    t.ok(inSync, 'every partition keeps all three replicas in sync')
    const placement = await cluster.placement(TOPIC)
    await cluster.stopBrokers()

    const found = readReplicas(cluster.brokers, TOPIC, PARTITIONS)
    const report = compareReplicas(found, placement)
    t.equal(report.divergent.count, 0, `the replicas agree offset by offset: ${JSON.stringify(report.divergent.examples[0] ?? null)}`)
    for (let p = 0; p < PARTITIONS; p++) {
      const want = confirmed.filter((c) => c.partition === p)
      for (const broker of placement.get(p)!.replicas) {
        const copy = found.find((r) => r.partition === p && r.broker === broker)
        const at = new Map(copy?.records.map((r) => [r.id, r.offset]))
        const lacking = want.filter((c) => at.get(c.id) !== c.offset)
        t.same(lacking.map((c) => c.id), [], `partition ${p} (worker ${ownerOf(TOPIC, p, WORKERS)}) on broker ${broker} holds every record confirmed there, at its offset`)
      }
    }
  })
}
