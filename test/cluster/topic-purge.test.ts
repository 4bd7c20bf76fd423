/**
 * TOPIC_PURGE in a cluster: asked of any broker, each partition's leader
 * drops its records and answers once every in-sync replica has dropped them
 * too, so a failover right after the answer brings none of them back. A
 * replica that was out of the in-sync set during a purge drops them when it
 * catches up.
 */
import t from 'tap'
import { connect, type Client } from '../../clients/index.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { sleep, until } from '../reliability/harness.js'
import { ID_HEADER } from './read-back.js'
import { readReplicas } from './replicas.js'

const TOPIC = 'purged'
const PARTITIONS = 3

async function publish(client: Client, prefix: string, n: number): Promise<void> {
  const producer = client.producer()
  for (let i = 0; i < n; i++) await producer.publish(TOPIC, `${prefix}-${i}`, { key: `k${i}`, headers: { [ID_HEADER]: `${prefix}-${i}` } })
}

async function placement(client: Client) {
  return (await client.admin.metadata([TOPIC])).topics[0]!.partitions
}

/** What a new group reading from the earliest offset gets within `ms`. */
async function readFresh(client: Client, group: string, want: number, ms = 15_000): Promise<string[]> {
  const got: string[] = []
  const consumer = await client.subscribe(TOPIC, { group, from: 'earliest' })
  consumer.on('message', (msg) => got.push(String(msg.payload)))
  await until(async () => got.length >= want, ms)
  await sleep(500) // anything more (a purged record) would come now
  await consumer.close()
  return got.sort()
}

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a purge asked of one broker drops the records on every replica before it is answered; no failover brings them back', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 30_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, minInSync: 2 })
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 20_000, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } })
    t.teardown(() => client.close())
    await publish(client, 'old', 30)
    t.ok(await until(async () => (await placement(admin)).every((p) => p.isr.length === 3), 15_000), 'every replica is in sync')
    const before = await placement(admin)
    t.ok(
      before.some((p) => p.leader !== 1),
      'broker 1 does not lead every partition: the purge is forwarded',
    )

    const purged = await admin.admin.purgeTopic(TOPIC)
    t.same(
      purged.partitions.map((p) => p.partition),
      [0, 1, 2],
      'every partition, each by its leader',
    )
    t.equal(
      purged.partitions.reduce((n, p) => n + p.purged, 0),
      30,
      'the 30 records went',
    )
    // At the answer, without waiting: every replica's log starts at the purge's offset.
    const atAnswer = readReplicas(
      cluster.brokers.map((b, i) => ({ id: i + 1, dataDir: b.dataDir })),
      TOPIC,
      PARTITIONS,
    )
    t.equal(atAnswer.length, 9, 'three replicas of each partition')
    for (const r of atAnswer) {
      const start = purged.partitions[r.partition]!.startOffset
      t.same([r.startOffset, r.records.length], [start, 0], `broker ${r.broker}, partition ${r.partition}: empty, starting at ${start}`)
    }

    await publish(client, 'new', 9)
    t.same(
      await readFresh(client, 'fresh-1', 9),
      Array.from({ length: 9 }, (_, i) => `new-${i}`).sort(),
      'a new group from the earliest offset gets only what came after the purge',
    )

    // The leader of partition 0 dies (not broker 1, which the admin client talks to).
    const p0 = before.find((p) => p.leader !== 1)!
    await cluster.brokers[p0.leader - 1]!.kill()
    t.ok(
      await until(async () => {
        const now = (await placement(admin)).find((p) => p.partition === p0.partition)!
        return now.leader !== p0.leader && cluster.brokers[now.leader - 1]!.running
      }, 20_000),
      `partition ${p0.partition} has a new leader after broker ${p0.leader} died`,
    )
    t.same(
      await readFresh(client, 'fresh-2', 9),
      Array.from({ length: 9 }, (_, i) => `new-${i}`).sort(),
      'after the failover too: no purged record came back',
    )

    // A purge while broker p0.leader is down and out of the in-sync sets; it drops the records when it catches up.
    t.ok(await until(async () => (await placement(admin)).every((p) => !p.isr.includes(p0.leader)), 30_000), `broker ${p0.leader} left the in-sync sets`)
    const again = await admin.admin.purgeTopic(TOPIC)
    t.equal(
      again.partitions.reduce((n, p) => n + p.purged, 0),
      9,
      'the second purge drops the 9 new records',
    )
    await cluster.brokers[p0.leader - 1]!.start()
    t.ok(await until(async () => (await placement(admin)).every((p) => p.isr.length === 3), 30_000), `broker ${p0.leader} is back in every in-sync set`)
    await sleep(500)
    for (const b of cluster.brokers) await b.stop()
    const replicas = readReplicas(
      cluster.brokers.map((b, i) => ({ id: i + 1, dataDir: b.dataDir })),
      TOPIC,
      PARTITIONS,
    )
    t.equal(replicas.length, 9)
    for (const r of replicas) {
      const start = again.partitions[r.partition]!.startOffset
      t.same([r.startOffset, r.endOffset, r.records.length], [start, start, 0], `broker ${r.broker}, partition ${r.partition}: empty at ${start}${r.broker === p0.leader ? ' (the broker that was down)' : ''}`)
    }
  })
}
