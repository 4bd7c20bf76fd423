/**
 * TOPIC_ALTER in a cluster: a new retention asked of any broker goes into
 * the topic's key, and every broker applies it to its copies, led and
 * followed: old segments go on every replica. Adding partitions is refused
 * there for now (INVALID_REQUEST naming it).
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { sleep, until } from '../reliability/harness.js'
import { ID_HEADER } from './read-back.js'
import { readReplicas } from './replicas.js'

const TOPIC = 'aging'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a retention changed through one broker applies to every replica', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp', '--retention-check-ms', '200'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 20_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: 1, replicationFactor: 3, minInSync: 2, segmentBytes: 4096, retentionBytes: 0 })
    const leader = (await admin.admin.metadata([TOPIC])).topics[0]!.partitions[0]!.leader
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 20_000 })
    const producer = client.producer()
    for (let i = 0; i < 200; i++) await producer.publish(TOPIC, `record-${i}-${'x'.repeat(150)}`, { headers: { [ID_HEADER]: `r${i}` } })
    await client.close()

    // Asked of a broker that does not lead the partition.
    const other = await connectDirect(cluster.seeds[leader === 2 ? 2 : 1]!, { name: 'other', requestTimeoutMs: 20_000 })
    t.teardown(() => other.close())
    const altered = await other.admin.alterTopic(TOPIC, { retentionBytes: 8192 })
    t.equal(altered.retentionBytes, 8192, 'the answer has the new retention')
    await t.rejects(other.admin.alterTopic(TOPIC, { partitions: 2 }), { codeName: 'INVALID_REQUEST', message: /partition count cannot be changed yet/ }, 'adding partitions is refused in a cluster')
    for (const [i, url] of cluster.seeds.entries()) {
      const c = await connectDirect(url, { name: `check-${i + 1}` })
      t.equal((await c.admin.describeTopic(TOPIC)).retentionBytes, 8192, `broker ${i + 1} has the new retention`)
      await c.close()
    }
    const led = await until(async () => ((await admin.admin.metadata([TOPIC])).topics[0]!.partitions[0]!.isr.length === 3), 10_000)
    t.ok(led, 'every replica is in sync')
    await sleep(1500)
    for (const b of cluster.brokers) await b.stop()
    const replicas = readReplicas(
      cluster.brokers.map((b, i) => ({ id: i + 1, dataDir: b.dataDir })),
      TOPIC,
      1,
    )
    t.equal(replicas.length, 3, 'three replicas')
    for (const r of replicas) {
      t.ok(r.startOffset > 0 && r.endOffset === 200, `broker ${r.broker}${r.broker === leader ? ' (leader)' : ''} dropped its old segments: it holds ${r.startOffset}-${r.endOffset}`)
    }
  })
}
