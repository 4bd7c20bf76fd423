/**
 * TOPIC_DELETE in a cluster: asked of any broker, the topic and its
 * dead-letter chain leave etcd, and every broker removes its copies of
 * their partitions (led and followed) and ends the subscriptions to them.
 * A broker that was down during the deletion keeps its copy, unserved,
 * until the name is used again: then the old copy is removed before the new
 * topic is written, and no old record passes for a new one.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { connect, type Client } from '../../clients/index.js'
import { clusterMissing, connectDirect, startCluster, type BrokerCluster } from './broker-cluster.js'
import { sleep, until } from '../reliability/harness.js'
import { ID_HEADER } from './read-back.js'
import { readReplicas } from './replicas.js'

const TOPIC = 'doomed'

/** Which brokers hold a directory of `topic`. */
function holders(cluster: BrokerCluster, topic: string): number[] {
  return cluster.brokers.flatMap((b, i) => (fs.existsSync(path.join(b.dataDir, 'topics', topic)) ? [i + 1] : []))
}

async function publish(client: Client, prefix: string, n: number): Promise<void> {
  const producer = client.producer()
  for (let i = 0; i < n; i++) await producer.publish(TOPIC, `${prefix}-${i}`, { key: `k${i}`, headers: { [ID_HEADER]: `${prefix}-${i}` } })
}

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a topic deleted through one broker is gone from every broker, with its dead-letter topic', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[1]!, { name: 'admin', requestTimeoutMs: 20_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 3, minInSync: 2 })
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 20_000, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } })
    t.teardown(() => client.close())
    await publish(client, 'old', 30)
    const consumer = await client.subscribe(TOPIC, { group: 'g', from: 'earliest' })
    let got = 0
    consumer.on('message', () => got++)
    const ended = new Promise<unknown>((resolve) => consumer.once('error', resolve))
    await until(async () => got === 30, 10_000)
    // Subscribing to the dead-letter topic makes it (in the cluster's keys, and on every broker).
    const dead = await client.subscribe(`${TOPIC}.dlq`, { group: 'dl' })
    dead.on('error', () => {})
    t.ok(await until(async () => holders(cluster, TOPIC).length === 3 && holders(cluster, `${TOPIC}.dlq`).length === 3, 10_000), 'every broker holds the topic and its dead-letter topic')

    t.same(await admin.admin.deleteTopic(TOPIC), undefined, 'broker 2 deletes it')
    t.ok(await until(async () => holders(cluster, TOPIC).length === 0 && holders(cluster, `${TOPIC}.dlq`).length === 0, 10_000), `no broker keeps a copy (left on ${holders(cluster, TOPIC)} / ${holders(cluster, `${TOPIC}.dlq`)})`)
    t.match(await Promise.race([ended, sleep(10_000).then(() => 'no error')]), { codeName: 'UNKNOWN_TOPIC' }, 'the consumer ends with UNKNOWN_TOPIC')
    for (const [i, url] of cluster.seeds.entries()) {
      const c = await connectDirect(url, { name: `check-${i + 1}` })
      t.same((await c.admin.listTopics()).map((x) => x.topic), [], `broker ${i + 1} lists no topic`)
      await t.rejects(c.admin.describeTopic(TOPIC), { codeName: 'UNKNOWN_TOPIC' }, `broker ${i + 1} does not know it`)
      await c.close()
    }
    await t.rejects(admin.admin.deleteTopic(TOPIC), { codeName: 'UNKNOWN_TOPIC' }, 'deleting it again: UNKNOWN_TOPIC')

    // The name is free: a new topic under it holds only what is published to it (a new client: the
    // old one's cache still gives the topic three partitions).
    await admin.admin.createTopic(TOPIC, { partitions: 1, replicationFactor: 3, minInSync: 2 })
    const later = await connect(cluster.seeds, { name: 'app-2', requestTimeoutMs: 20_000 })
    t.teardown(() => later.close())
    await publish(later, 'new', 5)
    const fresh = await later.subscribe(TOPIC, { group: 'g', from: 'earliest' })
    const ids: string[] = []
    fresh.on('message', (m) => ids.push(String(m.payload)))
    await until(async () => ids.length >= 5, 10_000)
    await sleep(300)
    t.same(ids.sort(), ['new-0', 'new-1', 'new-2', 'new-3', 'new-4'], 'group g of the new topic starts over and gets only the new records')
  })

  t.test('a broker down during the deletion keeps its copy unserved, and drops it when the name is used again', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 20_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 3, minInSync: 2 })
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 20_000, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } })
    t.teardown(() => client.close())
    await publish(client, 'old', 30)
    const away = cluster.brokers[2]!
    await sleep(500)
    await away.kill()
    await until(async () => (await admin.admin.metadata([TOPIC])).topics[0]!.partitions.every((p) => p.leader !== 3), 15_000)
    await admin.admin.deleteTopic(TOPIC)
    await until(async () => holders(cluster, TOPIC).length === 1, 10_000)
    t.same(holders(cluster, TOPIC), [3], 'only the broker that was down still holds a copy')

    await away.start()
    await until(async () => away.logged('topics the cluster does not have are not served').length > 0, 10_000)
    t.equal(away.logged('topics the cluster does not have are not served').length, 1, 'back, it warns about the copy the cluster does not have')
    t.same(holders(cluster, TOPIC), [3], 'and keeps its files')
    const three = await connectDirect(away.url, { name: 'check-3' })
    t.same(await three.admin.listTopics(), [], 'but does not list the topic')
    await three.close()

    await admin.admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 3, minInSync: 2 })
    await publish(client, 'new', 30)
    t.ok(await until(async () => away.logged('copy of an older topic of the same name removed').length === 1, 10_000), 'broker 3 removed the old copy before writing the new topic')
    const placement = (await admin.admin.metadata([TOPIC])).topics[0]!.partitions
    await until(async () => (await admin.admin.metadata([TOPIC])).topics[0]!.partitions.every((p) => p.isr.length === 3), 15_000)
    await sleep(1000)
    await client.close()
    for (const b of cluster.brokers) await b.stop()
    const replicas = readReplicas(
      cluster.brokers.map((b, i) => ({ id: i + 1, dataDir: b.dataDir })),
      TOPIC,
      placement.length,
    )
    const onThree = replicas.filter((r) => r.broker === 3).flatMap((r) => r.records.map((x) => x.id))
    t.equal(onThree.length, 30, `broker 3's replicas hold the 30 new records (${onThree.length})`)
    t.same(
      onThree.filter((id) => !id.startsWith('new-')),
      [],
      'and no old one',
    )
  })

  t.test('a producer whose metadata has the old partition count of a topic made again routes over the new count after one refusal', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 20_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: 6, replicationFactor: 3, minInSync: 2 })
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 20_000 })
    t.teardown(() => client.close())
    const producer = client.producer()
    let key: string | undefined
    for (let i = 0; key === undefined && i < 50; i++) if ((await producer.publish(TOPIC, 'old', { key: `k${i}` })).partition >= 2) key = `k${i}`
    t.ok(key, 'a key that goes to partition 2 or above of 6')

    await admin.admin.deleteTopic(TOPIC)
    await admin.admin.createTopic(TOPIC, { partitions: 2, replicationFactor: 3, minInSync: 2 })
    const first = await producer.publish(TOPIC, 'new-1', { key }).then(
      (r) => r,
      (err: unknown) => err,
    )
    t.match(first, { code: 'INVALID_REQUEST', message: /has no partition/ }, 'the first publish goes to a partition the new topic does not have: refused, nothing stored')
    await sleep(300)
    const second = await producer.publish(TOPIC, 'new-2', { key })
    t.ok(second.partition < 2, `the next goes over the new count at once, not after the periodic refresh (partition ${second.partition})`)
  })
}
