/**
 * The routing client across a leader's death, with replicated partitions:
 * three brokers, a topic with three copies of each partition and minInSync
 * 2, one keyed idempotent producer publishing continuously and a consumer
 * group receiving, while the broker leading some partitions is SIGKILLed, or
 * paused (SIGSTOP) for longer than its lease TTL: its connections then stay
 * open and silent, and the batches in flight on them are taken back once
 * metadata names the new leader.
 *
 * What a user relies on: every publish is confirmed (none times out, none is
 * refused), the ones for the dead leader's partitions by the follower elected
 * in its place; each record is stored once (the batches that were in flight
 * to the dead leader are sent again to the new one with the same producer id
 * and sequence, never as new batches); each key's records are stored in
 * publish order; and the consumer group, subscribed once, goes on receiving
 * every confirmed record. The time from the fault to the first confirm on
 * the old leader's partitions is reported (the election takes about the
 * lease TTL, 3 s); only a loose bound is asserted.
 */
import t, { type Test } from 'tap'
import { connect, type Message } from '../../clients/index.js'
import { sleep, until } from '../reliability/harness.js'
import { check, type Confirmed, type Delivered } from './checker.js'
import { ID_HEADER, readBackLeaders } from './read-back.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'

const TOPIC = 'failover'
const PARTITIONS = 6
const KEYS = 24
/** Publishes per 10 ms tick (about 1,000 a second). */
const PER_TICK = 10

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test("a leader SIGKILLed: every publish confirmed once, its partitions' records confirmed by the new leader, the group goes on", (t) => failover(t, 'kill'))
  t.test('a leader paused past its lease (its connections stay open, silent): the same, the batches it held taken back and sent to the new leader', (t) => failover(t, 'pause'))
}

/** Longer than the 3 s lease TTL: the paused broker loses its partitions. */
const PAUSE_MS = 6000

async function failover(t: Test, how: 'kill' | 'pause'): Promise<void> {
  const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp', '--group-commit-ms', '5'] })
  const admin = await connectDirect(cluster.seeds[0]!, { name: 'failover-admin' })
  await admin.admin.createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, minInSync: 2 })
  const placed = await until(async () => {
    const p = (await admin.admin.metadata([TOPIC])).topics[0]?.partitions
    return p?.length === PARTITIONS && p.every((q) => q.isr.length === 3) ? p : undefined
  }, 10_000)
  await admin.close()
  t.ok(placed, 'every partition has three copies in sync')
  // The victim is broker 3 (the seed connection is to broker 1): the partitions it leads move.
  const victim = 3
  const moving = new Set(placed!.filter((p) => p.leader === victim).map((p) => p.partition))
  t.ok(moving.size > 0, `broker ${victim} leads partitions ${[...moving].join(', ')}`)

  const opts = { requestTimeoutMs: 20_000, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } }
  const consumerClient = await connect(cluster.seeds, { name: 'failover-consumer', ...opts })
  const producerClient = await connect(cluster.seeds, { name: 'failover-producer', ...opts })
  t.teardown(() => Promise.all([consumerClient.close().catch(() => {}), producerClient.close().catch(() => {})]))
  consumerClient.on('error', () => {})
  producerClient.on('error', () => {})

  const delivered: Delivered[] = []
  const consumer = await consumerClient.subscribe(TOPIC, { group: 'billing', from: 'earliest', maxInFlight: 300 }, (msg: Message) => {
    delivered.push({ consumer: 'c0', id: msg.headers[ID_HEADER] ?? `?${msg.partition}:${msg.offset}`, partition: msg.partition, offset: msg.offset })
    msg.ack()
  })
  let consumerErrors = 0
  consumer.on('error', () => consumerErrors++)

  const producer = producerClient.producer({ maxInFlight: 500 })
  const confirmed: (Confirmed & { at: number })[] = []
  const failures: string[] = []
  const attempted: string[] = []
  let outstanding = 0
  let seq = 0
  let stop = false
  const publishing = (async () => {
    while (!stop) {
      for (let i = 0; i < PER_TICK && outstanding < 400; i++) {
        const s = seq++
        const id = `p0-${s}`
        const key = `k${s % KEYS}`
        attempted.push(id)
        outstanding++
        producer
          .publish(TOPIC, { id, key }, { key, headers: { [ID_HEADER]: id } })
          .then(
            (r) => void confirmed.push({ id, producer: 'p0', seq: s, key, partition: r.partition, offset: r.offset, at: Date.now() }),
            (err: unknown) => void failures.push(`${id}: ${String(err)}`),
          )
          .finally(() => outstanding--)
      }
      await sleep(10)
    }
  })()

  await sleep(2000)
  const beforeKill = confirmed.length
  t.ok(beforeKill > 0, `publishing runs (${beforeKill} confirmed before the ${how})`)
  const broker = cluster.brokers[victim - 1]!
  if (how === 'kill') await broker.kill()
  else process.kill(broker.pid, 'SIGSTOP')
  const killedAt = Date.now()
  t.comment(`broker ${victim} ${how === 'kill' ? 'SIGKILLed' : 'paused'} after ${beforeKill} confirms`)
  if (how === 'pause') {
    t.teardown(() => {
      try {
        process.kill(broker.pid, 'SIGCONT')
      } catch {
        // gone already
      }
    })
    setTimeout(() => process.kill(broker.pid, 'SIGCONT'), PAUSE_MS).unref()
  }
  // The first confirm on a moved partition after the kill comes from its new leader.
  const firstMoved = await until(() => confirmed.find((c) => c.at >= killedAt && moving.has(c.partition)), 20_000)
  const failoverMs = firstMoved ? firstMoved.at - killedAt : undefined
  t.comment(`from the ${how} to the first confirm on broker ${victim}'s partitions: ${failoverMs} ms`)
  t.ok(failoverMs !== undefined && failoverMs < 15_000, `its partitions take publishes again (${failoverMs} ms after the ${how})`)
  // Past the pause, so that a resumed broker's late answers are seen too.
  await sleep(Math.max(3000, killedAt + PAUSE_MS + 2000 - Date.now()))
  stop = true
  await publishing
  t.ok(await until(() => outstanding === 0, 25_000), 'every publish settled')
  t.comment(`${attempted.length} published, ${confirmed.length} confirmed, ${failures.length} failed, ${producer.stats.resentBatches} batches sent again`)
  t.same(failures.slice(0, 5), [], 'no publish failed or timed out')
  t.equal(confirmed.length, attempted.length, 'every publish confirmed')
  const afterKill = confirmed.filter((c) => c.at > killedAt + (failoverMs ?? 0) && moving.has(c.partition)).length
  t.ok(afterKill > 0, `the moved partitions kept taking publishes (${afterKill} confirmed there after the first)`)

  const after = (await producerClient.admin.metadata([TOPIC])).topics[0]!.partitions
  t.same(
    after.filter((p) => moving.has(p.partition) && (p.leader === victim || p.leaderEpoch <= placed!.find((q) => q.partition === p.partition)!.leaderEpoch)).map((p) => p.partition),
    [],
    'each of its partitions is led by another broker in a new epoch',
  )

  // Delivered without subscribing again: the same consumer, never ended.
  const ids = new Set<string>()
  const drained = await until(() => {
    for (const d of delivered) ids.add(d.id)
    return confirmed.every((c) => ids.has(c.id))
  }, 30_000)
  t.ok(drained, 'the consumer group received every confirmed record')
  t.notOk(consumer.closed, 'the consumer is still open')
  t.equal(consumerErrors, 0, 'and reported no error')
  const confirmedAt = new Map(confirmed.map((c) => [c.id, c.at]))
  const movedAfter = delivered.filter((d) => moving.has(d.partition) && (confirmedAt.get(d.id) ?? 0) > killedAt + (failoverMs ?? 0))
  t.ok(movedAfter.length > 0, `it received records published to the moved partitions after the move (${movedAfter.length})`)

  // Each live broker reads back the partitions it leads now (a resumed broker leads none of them).
  const live = cluster.brokers.filter((_, i) => how === 'pause' || i + 1 !== victim)
  const back = await readBackLeaders({ urls: live.map((b) => b.url), topic: TOPIC, partitions: PARTITIONS, open: connectDirect })
  t.strictSame(back.unread, [], `every partition was read whole from its leader (missing: ${JSON.stringify(back.missing.slice(0, 5))})`)
  const stored = back.records
  const report = check({ confirmed, stored, attempted, delivered })
  t.comment(report.summary())
  t.equal(report.lost.count, 0, 'no confirmed record lost')
  t.equal(report.duplicated.count, 0, 'no record stored twice')
  t.equal(report.reordered.count, 0, "every key's records stored in publish order")
  t.equal(report.offsetMismatch.count, 0, 'every confirm named the offset the record is stored at')
  t.equal(report.unconfirmedSeen.count, 0, 'nothing stored that was never published')
  t.equal(report.phantoms.count, 0, 'the group received nothing that is not stored')
  t.equal(report.undelivered.count, 0, 'the group received every confirmed record')
}
