/**
 * A paused old leader does not confirm after a new one is elected.
 *
 * One partition, three copies. A producer connected straight to its leader
 * (no routing: it keeps talking to that broker whatever METADATA says)
 * publishes with confirm; the leader is paused (SIGSTOP) past its lease TTL
 * and the producer keeps publishing to it meanwhile (the publishes wait in
 * the paused broker's socket). Once another replica has been elected and has
 * taken publishes of its own, the old leader is resumed and works through
 * the backlog. Whatever it confirms then must be in the new leader's log:
 * every confirmed record, before, during and after, is read from the
 * replicas on disk, and the replicas must agree offset by offset.
 *
 * Seeded: SKIFF_FAULT_SEED=<seed> replays the pause length.
 */
import t from 'tap'
import { faultSeed } from './fault-seed.js'
import { sleep, until } from '../reliability/harness.js'
import { clusterMissing, connectDirect } from './broker-cluster.js'
import { check, type Confirmed } from './checker.js'
import { FaultCluster } from './fault-cluster.js'
import { LEASE_TTL_MS } from './faults.js'
import { ID_HEADER } from './read-back.js'
import { compareReplicas, readReplicas } from './replicas.js'

const TOPIC = 'paused'


const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a paused old leader does not confirm after a new one is elected', async (t) => {
    const { seed, random } = faultSeed(t)
    const cluster = await FaultCluster.start({ args: ['--group-commit-ms', '5', '--no-udp'] })
    t.teardown(() => cluster.close())
    const admin = await connectDirect(cluster.brokers[0]!.runner.url, { name: 'paused' })
    await admin.admin.createTopic(TOPIC, { partitions: 1, replicationFactor: 3, minInSync: 2 })
    await admin.close()
    const before = (await cluster.placement(TOPIC)).get(0)!
    if (before.replicas.length < 2) return void t.skip('partitions have one copy here: no election to test')
    const old = before.leader
    t.comment(`leader ${old} in epoch ${before.leaderEpoch}, replicas ${before.replicas.join(',')}`)

    const confirmed: Confirmed[] = []
    const refused: { id: string; error: string }[] = []
    let seq = 0
    const publishTo = (client: Awaited<ReturnType<typeof connectDirect>>, phase: string) => {
      const s = seq++
      const id = `${phase}-${s}`
      const sentAt = Date.now()
      return client.producer().publish(TOPIC, id, { key: 'k', headers: { [ID_HEADER]: id } }).then(
        (r) => void confirmed.push({ id, producer: phase === 'during' ? 'old' : phase, seq: s, key: 'k', partition: r.partition, offset: r.offset, sentAt, at: Date.now() }),
        (err: Error) => void refused.push({ id, error: String((err as { code?: string }).code ?? err) }),
      )
    }

    const toOld = await connectDirect(cluster.broker(old).runner.url, { name: 'paused-old', requestTimeoutMs: 40_000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } })
    toOld.on('error', () => {})
    t.teardown(() => toOld.close().catch(() => {}))
    for (let i = 0; i < 50; i++) await publishTo(toOld, 'before')
    t.equal(confirmed.length, 50, 'the leader confirms before the pause')

    cluster.signal(old, 'SIGSTOP')
    const pausedAt = Date.now()
    const during: Promise<void>[] = []
    const sender = setInterval(() => during.push(publishTo(toOld, 'during')), 50)
    const elected = await until(async () => {
      const p = (await cluster.placement(TOPIC, [old])).get(0)
      return p && p.leader !== old && p.leaderEpoch > before.leaderEpoch ? p : undefined
    }, 20_000)
    t.ok(elected, `another replica was elected while the old leader was paused (${elected ? `broker ${elected.leader}, epoch ${elected.leaderEpoch}, ${Date.now() - pausedAt} ms after the pause` : 'none within 20 s'})`)
    if (!elected) {
      clearInterval(sender)
      cluster.signal(old, 'SIGCONT')
      return
    }
    const toNew = await connectDirect(cluster.broker(elected.leader).runner.url, { name: 'paused-new', requestTimeoutMs: 20_000 })
    toNew.on('error', () => {})
    t.teardown(() => toNew.close().catch(() => {}))
    for (let i = 0; i < 50; i++) await publishTo(toNew, 'after')
    // The pause outlasts the lease by a seeded margin, and the old leader gets a backlog the new one has not seen.
    await sleep(Math.max(0, pausedAt + LEASE_TTL_MS + 1000 + Math.floor(random() * 2000) - Date.now()))
    clearInterval(sender)
    cluster.signal(old, 'SIGCONT')
    await Promise.all(during)
    const oldConfirmed = confirmed.filter((c) => c.id.startsWith('during-'))
    t.comment(`while paused: ${during.length} publishes sent to the old leader; after it resumed ${oldConfirmed.length} were confirmed, ${refused.length} refused (${[...new Set(refused.map((r) => r.error))].join(', ')})`)

    t.ok(await cluster.waitAllRegistered(20_000), 'the old leader registers again')
    await sleep(2000)
    const placement = await cluster.placement(TOPIC)
    await toOld.close().catch(() => {})
    await toNew.close().catch(() => {})
    await cluster.stopBrokers()
    const replicas = compareReplicas(readReplicas(cluster.brokers, TOPIC, 1), placement)
    const newLog = new Set(replicas.stored.map((s) => s.id))
    const confirmedOutside = oldConfirmed.filter((c) => !newLog.has(c.id))
    t.same(confirmedOutside.map((c) => c.id), [], `nothing the old leader confirmed after the election is missing from the leader's log (seed ${seed})`)
    const report = check({ confirmed, stored: replicas.stored })
    t.equal(report.lost.count, 0, `no confirmed record lost: ${report.summary()}`)
    t.equal(report.offsetMismatch.count, 0, 'each at the offset its ack named')
    t.equal(report.duplicated.count, 0, 'none stored twice')
    t.equal(replicas.divergent.count, 0, `the replicas agree offset by offset: ${JSON.stringify(replicas.divergent.examples[0] ?? null)}`)
  })
}
