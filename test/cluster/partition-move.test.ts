/**
 * Moving a partition to other brokers (TOPIC_ALTER moves), asked of a broker
 * that does not lead it: the new broker catches up, the leader hands over to
 * a broker of the new set when it is not in it, the copy left behind is
 * dropped, every record is on the new replicas, and the group goes on where
 * it was: after the move its consumer gets what is published next and
 * nothing it had acked before.
 */
import fs from 'node:fs'
import t from 'tap'
import { connect } from '../../clients/index.js'
import { partitionDir } from '../../broker/topic-store.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { metricValue, until } from '../reliability/harness.js'
import { ID_HEADER } from './read-back.js'
import { readReplicas } from './replicas.js'

const TOPIC = 'moving'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a partition moved to other brokers keeps every record and its group, and leaves no copy behind', async (t) => {
    const cluster = await startCluster(t, { brokers: 4, etcdMembers: 1, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 30_000 })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: 1, replicationFactor: 3, minInSync: 2 })
    const placementOf = async () => (await admin.admin.metadata([TOPIC])).topics[0]!.partitions[0]!
    const before = await placementOf()
    const outsider = [1, 2, 3, 4].find((id) => !before.replicas.includes(id))!
    // The leader leaves; the broker that had no copy comes in.
    const target = [outsider, ...before.replicas.filter((id) => id !== before.leader)]

    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 30_000 })
    t.teardown(() => client.close())
    const consumer = await client.subscribe(TOPIC, { group: 'g' })
    const got: string[] = []
    consumer.on('message', (msg) => {
      got.push(String(msg.headers[ID_HEADER]))
      msg.ack()
    })
    const producer = client.producer()
    for (let i = 0; i < 300; i++) await producer.publish(TOPIC, `record-${i}`, { headers: { [ID_HEADER]: `r${i}` } })
    t.ok(await until(async () => got.length >= 300, 20_000), 'the consumer gets the first 300')
    t.ok(await until(async () => (await admin.admin.describeGroup(TOPIC, 'g')).partitions[0]?.committed === 300, 20_000), 'and has acked them')

    // Asked of a broker that does not lead the partition: it forwards the move to the leader.
    const asked = await connectDirect(cluster.seeds[before.replicas.find((id) => id !== before.leader)! - 1]!, { name: 'asked', requestTimeoutMs: 30_000 })
    t.teardown(() => asked.close())
    await t.rejects(asked.admin.alterTopic(TOPIC, { moves: [{ partition: 0, replicas: target.slice(0, 2) }] }), { code: 'INVALID_REQUEST', message: /name 3 brokers/ }, 'fewer brokers than copies: refused')
    await t.rejects(asked.admin.alterTopic(TOPIC, { moves: [{ partition: 0, replicas: [target[0]!, target[1]!, 9] }] }), { code: 'INVALID_REQUEST', message: /broker 9: not live/ }, 'a broker that is not live: refused')
    await t.rejects(asked.admin.alterTopic(TOPIC, { moves: [{ partition: 1, replicas: target }] }), { code: 'INVALID_REQUEST', message: /no partition 1/ }, 'a partition the topic does not have: refused')
    const altered = await asked.admin.alterTopic(TOPIC, { moves: [{ partition: 0, replicas: target }] })
    const shown = altered.placement?.find((p) => p.partition === 0)
    t.same(shown?.movingTo, target, 'the answer shows the move under way')

    const done = await until(async () => {
      const p = await placementOf()
      return p.movingTo === undefined && p.replicas.length === 3 && target.every((id) => p.replicas.includes(id)) && p.isr.length === 3
    }, 60_000)
    t.ok(done, 'the partition ends on the three brokers asked, all in sync')
    const after = await placementOf()
    t.ok(target.includes(after.leader), `it is led by a broker of the new set (${after.leader})`)
    t.ok(after.leaderEpoch > before.leaderEpoch, 'in a new leader epoch')
    const scrape = await cluster.brokers[before.leader - 1]!.metrics()
    t.equal(metricValue(scrape ?? '', 'skiff_cluster_partition_moves_total', { broker: String(before.leader) }), 1, 'the old leader counts the move it finished')
    t.equal(metricValue(scrape ?? '', 'skiff_cluster_partitions_moving', { broker: String(before.leader) }), 0, 'and no partition moving any more')
    const left = cluster.brokers[before.leader - 1]!
    t.ok(
      await until(async () => !fs.existsSync(partitionDir(left.dataDir, TOPIC, 0)), 15_000),
      `broker ${before.leader}, moved off, dropped its copy`,
    )

    got.length = 0
    for (let i = 300; i < 400; i++) await producer.publish(TOPIC, `record-${i}`, { headers: { [ID_HEADER]: `r${i}` } })
    const next = Array.from({ length: 100 }, (_, i) => `r${300 + i}`)
    t.ok(await until(async () => next.every((id) => got.includes(id)), 40_000), `the same consumer gets the 100 published after the move (${got.length} so far)`)
    t.same(
      got.filter((id) => !next.includes(id)),
      [],
      'and none it had acked before: the group moved with the partition',
    )
    t.ok(await until(async () => (await admin.admin.describeGroup(TOPIC, 'g')).partitions[0]?.committed === 400, 20_000), 'the group commits on the new leader')

    await client.close()
    for (const b of cluster.brokers) await b.stop()
    const replicas = readReplicas(
      cluster.brokers.map((b, i) => ({ id: i + 1, dataDir: b.dataDir })),
      TOPIC,
      1,
    )
    t.same(
      replicas.map((r) => r.broker).sort(),
      [...target].sort(),
      'copies are on the new replicas only',
    )
    const ids = Array.from({ length: 400 }, (_, i) => `r${i}`)
    for (const r of replicas) t.same(r.records.map((x) => x.id), ids, `broker ${r.broker} holds all 400 records, in order`)
  })

  t.test('a broker that was down while a partition moved off it drops its copy when it comes back', async (t) => {
    const cluster = await startCluster(t, { brokers: 4, etcdMembers: 1, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 30_000 })
    t.teardown(() => admin.close())
    const topic = 'left-behind'
    await admin.admin.createTopic(topic, { partitions: 1, replicationFactor: 3, minInSync: 2 })
    const placementOf = async () => (await admin.admin.metadata([topic])).topics[0]!.partitions[0]!
    const before = await placementOf()
    const down = before.replicas.find((id) => id !== before.leader && id !== 1)!
    const outsider = [1, 2, 3, 4].find((id) => !before.replicas.includes(id))!
    const target = [outsider, ...before.replicas.filter((id) => id !== down)]
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 30_000 })
    t.teardown(() => client.close())
    const producer = client.producer()
    for (let i = 0; i < 50; i++) await producer.publish(topic, `record-${i}`)
    const broker = cluster.brokers[down - 1]!
    t.ok(await until(async () => fs.existsSync(partitionDir(broker.dataDir, topic, 0)), 10_000), `broker ${down} has a copy`)

    await broker.kill()
    t.ok(await until(async () => !(await placementOf()).isr.includes(down), 20_000), `broker ${down} is out of the in-sync set once it is gone`)
    await admin.admin.alterTopic(topic, { moves: [{ partition: 0, replicas: target }] })
    t.ok(
      await until(async () => {
        const p = await placementOf()
        return p.movingTo === undefined && !p.replicas.includes(down) && p.isr.length === 3
      }, 60_000),
      `the partition moves off broker ${down} while it is down`,
    )
    t.ok(fs.existsSync(partitionDir(broker.dataDir, topic, 0)), 'its copy is still on its disk')
    await broker.start()
    t.ok(await until(async () => !fs.existsSync(partitionDir(broker.dataDir, topic, 0)), 20_000), 'back, it drops the copy it no longer holds a replica of')
    t.ok(fs.existsSync(partitionDir(cluster.brokers[outsider - 1]!.dataDir, topic, 0)), `broker ${outsider}, moved onto, keeps its copy`)
  })
}
