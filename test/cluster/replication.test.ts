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
import { sleep, until } from '../reliability/harness.js'
import { ID_HEADER, readBack } from './read-back.js'

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
    const back = await readBack({ url: cluster.seeds, topic: TOPIC })
    const stored = new Set(back.records.map((r) => r.id))
    t.same(all.filter((id) => !stored.has(id)), [], 'every confirmed record is stored')
    t.equal(back.records.length, new Set(back.records.map((r) => r.id)).size, 'none twice')
  })

  t.test('below minInSync a publish is refused, and nothing unconfirmed is delivered', async (t) => {
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
