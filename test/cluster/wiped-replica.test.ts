/**
 * A replica that lost its data (wiped directory) does not become leader and
 * erase confirmed records.
 *
 * One partition, three copies, under a confirmed workload with a group
 * acking. A follower is SIGKILLed, its data directory removed, and started
 * again: it comes back as a new, empty replica (new data directory id).
 * As soon as it is registered, the leader is SIGKILLed. The new leader must
 * be a replica that still holds what was confirmed (the wiped one only once
 * it has caught up and been taken back into the in-sync set); afterwards
 * the old leader comes back, and every confirmed record must be stored, once,
 * in order, identical on every replica, and delivered to the group.
 *
 * And a wiped replica that has megabytes to fetch catches up and is taken
 * back into the in-sync set (the catch-up crosses the peer link in
 * answers that the link must be able to carry).
 *
 * Seeded: SKIFF_FAULT_SEED=<seed> replays the keys and the moments.
 */
import t from 'tap'
import { faultSeed } from './fault-seed.js'
import { connect } from '../../clients/index.js'
import { sleep, until } from '../reliability/harness.js'
import { clusterMissing, connectDirect } from './broker-cluster.js'
import { check } from './checker.js'
import { expectClean } from './expect-clean.js'
import { FaultCluster } from './fault-cluster.js'
import { compareReplicas, readReplicas } from './replicas.js'
import { startWorkload } from './workload.js'

const TOPIC = 'wiped'


const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a replica that lost its data does not become leader and erase confirmed records', async (t) => {
    const { seed, random } = faultSeed(t)
    const cluster = await FaultCluster.start({ args: ['--group-commit-ms', '5', '--no-udp'] })
    t.teardown(() => cluster.close())
    const admin = await connectDirect(cluster.brokers[0]!.runner.url, { name: 'wiped' })
    await admin.admin.createTopic(TOPIC, { partitions: 1, replicationFactor: 3, minInSync: 2 })
    await admin.close()
    const first = (await cluster.placement(TOPIC)).get(0)!
    if (first.replicas.length < 3) return void t.skip('partitions have fewer than three copies here')
    const leader = first.leader
    const wiped = first.replicas.filter((id) => id !== leader)[Math.floor(random() * 2)]!
    t.comment(`leader ${leader}, replicas ${first.replicas.join(',')}; broker ${wiped} will lose its data`)

    const w = await startWorkload({
      url: cluster.seeds,
      topic: TOPIC,
      producers: 2,
      consumers: 1,
      group: 'wiped',
      keys: 4,
      rate: 300,
      seed,
      connect: { requestTimeoutMs: 30_000, drainTimeoutMs: 5000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } },
    })
    t.teardown(() => w.close())
    // Enough confirmed records that the wiped replica needs a while to catch up.
    await until(() => w.confirmed.length >= 3000, 20_000)
    t.comment(`${w.confirmed.length} confirmed before the wipe`)

    await cluster.restart(wiped, { wipe: true })
    t.ok(await cluster.waitAllRegistered(15_000), 'the wiped broker registers again, as a new data directory')
    const atKill = (await cluster.placement(TOPIC)).get(0)!
    await cluster.kill(leader)
    t.comment(`killed leader ${leader} with ${w.confirmed.length} confirmed; in-sync set then: ${atKill.isr.join(',')}`)

    const elected = await until(async () => {
      const p = (await cluster.placement(TOPIC, [leader])).get(0)
      return p && p.leader !== leader && p.leaderEpoch > atKill.leaderEpoch ? p : undefined
    }, 20_000)
    t.ok(elected, `a new leader was elected (${elected ? `broker ${elected.leader}, epoch ${elected.leaderEpoch}` : 'none within 20 s'})`)
    if (elected?.leader === wiped) t.ok(atKill.isr.includes(wiped), 'the wiped replica led only after it had caught up and was back in the in-sync set')
    else t.pass(`the wiped replica was not elected (broker ${elected?.leader} was)`)

    await sleep(1500 + Math.floor(random() * 1000))
    await cluster.restart(leader)
    t.ok(await cluster.waitAllRegistered(15_000), 'the old leader is back')
    await sleep(1000)
    w.stopProducing()
    await w.produced
    const drained = await w.deliveredAll(30_000)
    await sleep(3000)
    const placement = await cluster.placement(TOPIC)
    await w.close()
    await cluster.stopBrokers()

    const replicas = compareReplicas(readReplicas(cluster.brokers, TOPIC, 1), placement)
    const report = check({ confirmed: w.confirmed, stored: replicas.stored, attempted: w.attempted, delivered: w.delivered })
    t.comment(report.summary())
    t.ok(w.confirmed.length > 3000, `the workload went on (${w.confirmed.length} confirmed, ${w.failures.length} failed)`)
    expectClean(t, report, seed, drained)
    t.equal(replicas.divergent.count, 0, `the replicas agree offset by offset: ${JSON.stringify(replicas.divergent.examples[0] ?? null)}`)
  })

  t.test('a wiped replica with megabytes to fetch catches up and is back in sync', async (t) => {
    const cluster = await FaultCluster.start({ args: ['--group-commit-ms', '5', '--no-udp'] })
    t.teardown(() => cluster.close())
    const client = await connect(cluster.seeds, { name: 'catch-up', requestTimeoutMs: 30_000 })
    t.teardown(() => client.close())
    await client.admin.createTopic('catch-up', { partitions: 6, replicationFactor: 3, minInSync: 2 })
    const producer = client.producer({ maxInFlight: 500 })
    // 4,000 records of 1 KiB over six partitions: about 4 MiB, some 680 KiB per partition.
    const payload = Buffer.alloc(1024, 'x')
    await Promise.all(Array.from({ length: 4000 }, (_, i) => producer.publish('catch-up', payload, { key: `k${i % 60}` })))
    const full = async () => {
      const placement = await cluster.placement('catch-up')
      return placement.size === 6 && [...placement.values()].every((p) => p.isr.length === p.replicas.length) ? placement : undefined
    }
    t.ok(await until(full, 20_000), 'every replica in sync before the wipe')
    await cluster.restart(3, { wipe: true })
    t.ok(await cluster.waitAllRegistered(15_000), 'the wiped broker registers again')
    const back = await until(full, 30_000)
    const now = await cluster.placement('catch-up')
    t.ok(back, `within 30 s every partition has all three replicas in sync again (now: ${[...now].map(([p, x]) => `p${p} isr ${x.isr.join(',')}`).join('; ')})`)
  })
}
