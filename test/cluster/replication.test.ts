/**
 * Replicated partitions on three brokers (RF 3, minInSync 2): every
 * confirmed record is on every replica byte for byte; a follower's death
 * shrinks the in-sync set and publishes go on; the leader's SIGKILL elects
 * an in-sync follower in a new epoch and everything confirmed before is
 * still there; below minInSync publishes are refused with
 * NOT_ENOUGH_REPLICAS and nothing is confirmed.
 */
import t from 'tap'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { connect, SkiffError, type Client } from '../../clients/index.js'
import { metricValue, sleep, until } from '../reliability/harness.js'
import { ID_HEADER, readBackLeaders } from './read-back.js'

const TOPIC = 'replicated'

async function placement(client: Client, topic: string) {
  const meta = await client.admin.metadata([topic])
  return meta.topics[0]!.partitions
}

async function publishConfirmed(client: Client, prefix: string, n: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`
    await client.producer().publish(TOPIC, id, { key: `k${i % 6}`, headers: { [ID_HEADER]: id } })
    ids.push(id)
  }
  return ids
}

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('three copies: confirmed records survive a follower and a leader dying', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'repl-admin' })
    await admin.admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 3, minInSync: 2 })
    await admin.close()
    const client = await connect(cluster.seeds, { name: 'repl', requestTimeoutMs: 20_000, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } })
    t.teardown(() => client.close())

    const first = await publishConfirmed(client, 'a', 120)
    const before = await placement(client, TOPIC)
    t.ok(before.every((p) => p.replicas.length === 3 && p.isr.length === 3), 'every partition has three replicas, all in sync')

    // Every broker leads one partition of three and follows the other two: broker 3 dies as both.
    const victim = cluster.brokers[2]!
    const ledByVictim = before.filter((p) => p.leader === 3).map((p) => p.partition)
    await victim.kill()
    const second = await publishConfirmed(client, 'b', 120)
    const after = await placement(client, TOPIC)
    for (const p of after) t.not(p.leader, 3, `partition ${p.partition} is led by a live broker`)
    for (const p of ledByVictim) t.ok(after.find((q) => q.partition === p)!.leaderEpoch > before.find((q) => q.partition === p)!.leaderEpoch, `partition ${p} has a new epoch`)
    await until(async () => (await placement(client, TOPIC)).every((p) => !p.isr.includes(3)), 15_000)
    t.ok((await placement(client, TOPIC)).every((p) => !p.isr.includes(3)), 'the dead broker is out of every in-sync set')

    await victim.start()
    await until(async () => (await placement(client, TOPIC)).every((p) => p.isr.length === 3), 20_000)
    t.ok((await placement(client, TOPIC)).every((p) => p.isr.length === 3), 'the restarted broker caught up and is back in every in-sync set')

    const all = [...first, ...second]
    // Each broker reads back the partitions it leads (a broker describes only those).
    const { records, unread } = await readBackLeaders({ urls: cluster.seeds, topic: TOPIC, partitions: 3, open: connectDirect })
    t.strictSame(unread, [], 'every partition was read whole from its leader')
    const stored = new Set(records.map((r) => r.id))
    t.same(all.filter((id) => !stored.has(id)), [], 'every confirmed record is stored')
    t.equal(records.length, stored.size, 'none twice')
  })

  t.test('a new leader resumes a consumer group where the old one left off', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'repl-admin' })
    await admin.admin.createTopic(TOPIC, { partitions: 1, replicationFactor: 3, minInSync: 2 })
    const leader = (await placement(admin, TOPIC))[0]!.leader
    await admin.close()
    const watcher = await connectDirect(cluster.seeds[leader === 1 ? 1 : 0]!, { name: 'watcher' })
    t.teardown(() => watcher.close())
    const direct = await connectDirect(cluster.seeds[leader - 1]!, { name: 'direct', requestTimeoutMs: 20_000 })
    const consumer = await direct.subscribe(TOPIC, { group: 'billing', from: 'earliest', autoAck: false })
    const producer = direct.producer()
    for (let i = 0; i < 60; i++) await producer.publish(TOPIC, `m${i}`)
    const acked: string[] = []
    for await (const msg of consumer) {
      acked.push(String(msg.payload))
      msg.ack()
      if (acked.length === 40) break
    }
    // The acks travel batched: let them reach the leader, and the group state its followers.
    await sleep(1500)
    await cluster.brokers[leader - 1]!.kill()
    await direct.close().catch(() => undefined)
    let now: Awaited<ReturnType<typeof placement>>[0] | undefined
    await until(async () => {
      now = (await placement(watcher, TOPIC))[0]
      return now !== undefined && now.leader !== leader
    }, 15_000)
    t.not(now!.leader, leader, `broker ${now!.leader} leads after broker ${leader} died`)
    const next = await connectDirect(cluster.seeds[now!.leader - 1]!, { name: 'next', requestTimeoutMs: 20_000 })
    t.teardown(() => next.close())
    // 'latest' would skip everything: the group is known to the new leader, so where it starts is where it was.
    const again = await next.subscribe(TOPIC, { group: 'billing', from: 'latest', autoAck: false })
    const rest: string[] = []
    again.on('message', (msg) => {
      rest.push(String(msg.payload))
      msg.ack()
    })
    await until(async () => rest.includes('m59'), 15_000)
    if (!rest.includes('m59')) {
      const m = await watcher.admin.metadata([TOPIC])
      t.comment(JSON.stringify(m.topics[0]))
      for (const [i, b] of cluster.brokers.entries()) for (const l of b.lines.slice(-40)) if (!/connection/.test(String(l.msg))) t.comment(`${i + 1} ${JSON.stringify(l).slice(0, 250)}`)
    }
    // The new leader's metrics: the election it won, and the high watermark past every record.
    const leaderMetrics = (await cluster.brokers[now!.leader - 1]!.metrics()) ?? ''
    t.equal(metricValue(leaderMetrics, 'skiff_cluster_elections_total'), 1, 'the new leader counts the election it won')
    t.ok(await until(async () => metricValue((await cluster.brokers[now!.leader - 1]!.metrics()) ?? '', 'skiff_replica_high_watermark', { topic: TOPIC, partition: '0' }) === 60, 10_000), 'its high watermark is past all 60 records')
    const expected = Array.from({ length: 20 }, (_, i) => `m${40 + i}`)
    t.same(expected.filter((m) => !rest.includes(m)), [], `every message not acked before the failover is delivered by the new leader (got ${rest.join(',')})`)
    t.ok(rest.length <= 60, `redelivered at most what was in flight (${rest.length} delivered)`)
  })

  t.test('SIGTERM hands leadership over before the broker exits', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[2]!, { name: 'repl-admin' })
    t.teardown(() => admin.close())
    await admin.admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 3, minInSync: 2 })
    const before = await placement(admin, TOPIC)
    const led = before.filter((p) => p.leader === 1)
    t.ok(led.length > 0, 'broker 1 leads a partition')
    const started = Date.now()
    t.equal(await cluster.brokers[0]!.stop(), 0, 'broker 1 exits cleanly on SIGTERM')
    const handed = cluster.brokers[0]!.logged('leadership handed over')
    t.equal(handed.length, led.length, 'every partition it led was handed over')
    const after = await placement(admin, TOPIC)
    for (const p of led) {
      const now = after.find((q) => q.partition === p.partition)!
      t.ok(now.leader !== 1 && now.leaderEpoch === p.leaderEpoch + 1, `partition ${p.partition} moved to broker ${now.leader} in epoch ${now.leaderEpoch}`)
    }
    t.comment(`stopped in ${Date.now() - started} ms`)
    t.equal(cluster.brokers[1]!.logged('elected leader').length + cluster.brokers[2]!.logged('elected leader').length, 0, 'no election was needed')
  })

  t.test('below minInSync a publish is refused with NOT_ENOUGH_REPLICAS', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'repl-admin' })
    await admin.admin.createTopic(TOPIC, { partitions: 1, replicationFactor: 3, minInSync: 3 })
    const leader = (await placement(admin, TOPIC))[0]!.leader
    await admin.close()
    const direct = await connectDirect(cluster.seeds[leader - 1]!, { name: 'direct', requestTimeoutMs: 20_000 })
    t.teardown(() => direct.close())
    await direct.producer().publish(TOPIC, 'one')
    const follower = cluster.brokers.find((_, i) => i + 1 !== leader)!
    await follower.kill()
    let refused: unknown
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      try {
        await direct.producer().publish(TOPIC, 'two')
      } catch (err) {
        refused = err
        break
      }
      await sleep(200)
    }
    t.ok(refused instanceof SkiffError && refused.code === 'NOT_ENOUGH_REPLICAS', `refused with NOT_ENOUGH_REPLICAS (${String(refused)})`)
  })
}
