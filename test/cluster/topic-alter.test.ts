/**
 * TOPIC_ALTER in a cluster: a new retention asked of any broker goes into
 * the topic's key, and every broker applies it to its copies, led and
 * followed: old segments go on every replica. Partitions added through any
 * broker are placed on the live brokers, replicated, and every group of the
 * topic starts at their beginning, so a consumer subscribed before the
 * change gets what was published to them before it noticed them.
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
    // The broker asked answers once its own copy has the change; the others apply it when their
    // watch of the topic's key brings it, a moment later (as a Kafka config change reaches each broker).
    for (const [i, url] of cluster.seeds.entries()) {
      const c = await connectDirect(url, { name: `check-${i + 1}` })
      let seen: number | undefined
      await until(async () => (seen = (await c.admin.describeTopic(TOPIC)).retentionBytes) === 8192, 5000)
      t.equal(seen, 8192, `broker ${i + 1} has the new retention`)
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

  t.test('partitions added through one broker are replicated, and the groups of the topic start at their beginning', async (t) => {
    const topic = 'growing'
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[1]!, { name: 'admin', requestTimeoutMs: 30_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(topic, { partitions: 2, replicationFactor: 3, minInSync: 2 })
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 20_000 })
    t.teardown(() => client.close())
    // Subscribed before the change, from the latest offset: the group's position is all it has on a new partition.
    const consumer = await client.subscribe(topic, { group: 'g', from: 'latest' })
    const got = new Map<string, number>()
    consumer.on('message', (msg) => got.set(String(msg.payload), msg.partition))
    const dead = await client.subscribe(`${topic}.dlq`, { group: 'dl' })
    dead.on('error', () => {})
    const producer = client.producer()
    for (let i = 0; i < 10; i++) await producer.publish(topic, `before-${i}`, { key: `k${i}` })
    t.ok(await until(async () => got.size === 10, 15_000), 'the consumer reads the two partitions')

    await t.rejects(admin.admin.alterTopic(topic, { partitions: 1 }), { code: 'INVALID_REQUEST', message: /can only be added/ }, 'fewer partitions: refused')
    await t.rejects(admin.admin.alterTopic(`${topic}.dlq`, { partitions: 4 }), { code: 'INVALID_REQUEST', message: /dead-letter topic/ }, "a dead-letter topic's count follows its origin's")
    const altered = await admin.admin.alterTopic(topic, { partitions: 4 })
    t.equal(altered.partitions, 4, 'the answer has the new count')
    const placed = (await admin.admin.metadata([topic])).topics[0]!.partitions
    t.same(
      placed.map((p) => [p.partition, p.replicas.length]),
      [
        [0, 3],
        [1, 3],
        [2, 3],
        [3, 3],
      ],
      'the new partitions have three replicas each',
    )
    for (const [i, url] of cluster.seeds.entries()) {
      const c = await connectDirect(url, { name: `check-${i + 1}` })
      const counts = async () => [(await c.admin.describeTopic(topic)).partitions, (await c.admin.describeTopic(`${topic}.dlq`)).partitions]
      let seen: number[] = []
      await until(async () => (seen = await counts()).every((n) => n === 4), 5000)
      t.same(seen, [4, 4], `broker ${i + 1} has 4 partitions, and so has the dead-letter topic`)
      await c.close()
    }

    // A client that knows the new count publishes at once, before the old consumer's next metadata refresh.
    const fresh = await connect(cluster.seeds, { name: 'fresh', requestTimeoutMs: 20_000 })
    t.teardown(() => fresh.close())
    const keys = Array.from({ length: 40 }, (_, i) => `after-${i}`)
    const fp = fresh.producer()
    for (const k of keys) await fp.publish(topic, k, { key: k })
    t.ok(await until(async () => keys.every((k) => got.has(k)), 30_000), `the consumer subscribed before gets all 40, from every partition (got ${keys.filter((k) => got.has(k)).length})`)
    const partitionsSeen = new Set(keys.map((k) => got.get(k)))
    t.ok(partitionsSeen.has(2) && partitionsSeen.has(3), `records came from the new partitions too (${[...partitionsSeen].sort()})`)
    t.ok(await until(async () => (await admin.admin.metadata([topic])).topics[0]!.partitions.every((p) => p.isr.length === 3), 15_000), 'every replica of every partition is in sync')
    const group = await admin.admin.describeGroup(topic, 'g')
    t.same(
      group.partitions.map((p) => p.partition),
      [0, 1, 2, 3],
      'the group has state on all four',
    )
  })
}
