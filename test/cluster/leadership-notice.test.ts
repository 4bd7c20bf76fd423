/**
 * A consumer follows its partition to a new leader while the connection to
 * the old one stays up, without waiting for its client's periodic metadata
 * refresh (set here to 10 minutes, longer than the tests; each consumer is
 * alone in its client, as a producer's refusal would refresh the metadata it
 * shares):
 * - the old leader, handing the partition over (a move), tells the
 *   subscriptions there that cover it (an unsolicited NOT_LEADER naming the
 *   subscription and the partitions);
 * - an old leader that is paused tells nothing: the client finds its PING
 *   unanswered and asks the other brokers (cluster-router.ts probeLinks);
 * - nor does one that is killed: the client asks again every second while
 *   metadata still names as leader a broker its link cannot reach.
 */
import t, { type Test as Tap } from 'tap'
import { connect } from '../../clients/index.js'
import { Op, SUPPORTED_VERSIONS, decodeError, encodeHello, encodeSubscribe, stringHash } from '../../protocol/index.js'
import { RawPeer } from '../broker/raw-peer.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { until } from '../reliability/harness.js'
import { ID_HEADER } from './read-back.js'

const TOPIC = 'handed-over'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a consumer whose partition is handed to another broker follows it at once', async (t) => {
    const cluster = await startCluster(t, { brokers: 4, etcdMembers: 1, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 30_000 })
    t.teardown(() => admin.close())
    // Five partitions on four brokers: some broker leads two of them, P (moved) and Q (staying).
    await admin.admin.createTopic(TOPIC, { partitions: 5, replicationFactor: 3, minInSync: 2 })
    const placements = (await admin.admin.metadata([TOPIC])).topics[0]!.partitions
    const [P, Q] = [1, 2, 3, 4].map((id) => placements.filter((p) => p.leader === id)).find((led) => led.length >= 2)!
    const before = P!

    // On the wire: at that leader, one subscription naming P, another naming only Q.
    const raw = await RawPeer.connect(cluster.brokers[before.leader - 1]!.port)
    t.teardown(() => raw.end())
    raw.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'raw-watcher' }))
    t.ok(await raw.waitFor((f) => f.opcode === Op.WELCOME), `a raw connection to broker ${before.leader}, leader of partitions ${before.partition} and ${Q!.partition}`)
    raw.write(encodeSubscribe({ corr: 1, sub: 7, topic: TOPIC, group: 'watcher', start: 'earliest', maxInFlight: 10, partitions: [before.partition] }))
    t.ok(await raw.waitFor((f) => f.opcode === Op.OK), `subscribed there to partition ${before.partition}`)
    const from = raw.frames.length
    raw.write(encodeSubscribe({ corr: 2, sub: 8, topic: TOPIC, group: 'watcher', start: 'earliest', maxInFlight: 10, partitions: [Q!.partition] }))
    t.ok(await raw.waitFor((f) => f.opcode === Op.OK, 5000, from), `and to partition ${Q!.partition}`)

    const reader = await connect(cluster.seeds, { name: 'reader', requestTimeoutMs: 30_000, metadataRefreshMs: 600_000 })
    t.teardown(() => reader.close())
    const consumer = await reader.subscribe(TOPIC, { group: 'g' })
    const got: string[] = []
    consumer.on('message', (msg) => {
      got.push(String(msg.headers[ID_HEADER]))
      msg.ack()
    })
    const writer = await connect(cluster.seeds, { name: 'writer', requestTimeoutMs: 30_000 })
    t.teardown(() => writer.close())
    const producer = writer.producer()
    // A key that hashes to P, as client and broker both choose it.
    const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => stringHash(k) % 5 === before.partition)!
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i++) await producer.publish(TOPIC, `record-${i}`, { key, headers: { [ID_HEADER]: `r${i}` } })
    }
    await publish(0, 20)
    t.ok(await until(async () => got.length >= 20, 20_000), 'the consumer gets the first 20, all on P')

    // The leader leaves P's replicas: it hands the leadership to a broker of the new set.
    const outsider = [1, 2, 3, 4].find((id) => !before.replicas.includes(id))!
    const target = [outsider, ...before.replicas.filter((id) => id !== before.leader)]
    await admin.admin.alterTopic(TOPIC, { moves: [{ partition: before.partition, replicas: target }] })

    const notice = await raw.waitFor((f) => f.opcode === Op.ERROR, 60_000)
    const err = notice && decodeError(notice.body)
    t.match(err, { code: 22, name: 'NOT_LEADER', details: { sub: 7, topic: TOPIC, partitions: [before.partition] } }, `the subscription to partition ${before.partition} is told the broker no longer leads it`)
    t.equal(err?.corr, undefined, 'unsolicited: it answers no request')
    t.notOk(
      raw.errors().some((e) => e.details?.sub === 8),
      `the one to partition ${Q!.partition}, still led there, is told nothing`,
    )
    const after = (await admin.admin.metadata([TOPIC])).topics[0]!.partitions[before.partition]!
    t.ok(after.leader !== before.leader && target.includes(after.leader), `partition ${before.partition} is led by broker ${after.leader} now`)
    t.notOk(raw.closed, 'the connection stays open')

    await publish(20, 40)
    const next = Array.from({ length: 20 }, (_, i) => `r${20 + i}`)
    t.ok(
      await until(async () => next.every((id) => got.includes(id)), 30_000),
      `the consumer gets the 20 published at the new leader, long before its next periodic refresh (${got.length} so far)`,
    )
  })

  /**
   * A one-partition topic on three brokers, a consumer alone in its client and a producer; the
   * first 10 records read; then `strike` takes the leader away and 10 more are published (confirmed
   * once another broker leads: the producer follows on its own). The consumer must get them while
   * the old leader is still away.
   */
  const leaderGoes = (name: string, topic: string, away: string, strike: (cluster: Awaited<ReturnType<typeof startCluster>>, leader: number, t: Tap) => Promise<void>) =>
    t.test(name, async (t) => {
      const cluster = await startCluster(t, { brokers: 3, etcdMembers: 1, args: ['--no-udp'] })
      const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 30_000 })
      t.teardown(() => admin.close())
      await admin.admin.createTopic(topic, { partitions: 1, replicationFactor: 3, minInSync: 2 })
      const before = (await admin.admin.metadata([topic])).topics[0]!.partitions[0]!

      const reader = await connect(cluster.seeds, { name: 'reader', requestTimeoutMs: 30_000, metadataRefreshMs: 600_000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } })
      reader.on('error', () => {})
      t.teardown(() => reader.close({ timeoutMs: 1000 }).catch(() => {}))
      const got: string[] = []
      const consumer = await reader.subscribe(topic, { group: 'g' }, (msg) => {
        got.push(String(msg.headers[ID_HEADER]))
        msg.ack()
      })
      consumer.on('error', () => {})
      const writer = await connect(cluster.seeds.filter((_, i) => i + 1 !== before.leader), { name: 'writer', requestTimeoutMs: 30_000 })
      writer.on('error', () => {})
      t.teardown(() => writer.close({ timeoutMs: 1000 }).catch(() => {}))
      const producer = writer.producer()
      const publish = async (from: number, to: number) => {
        for (let i = from; i < to; i++) await producer.publish(topic, `record-${i}`, { headers: { [ID_HEADER]: `r${i}` } })
      }
      await publish(0, 10)
      t.ok(await until(async () => got.length >= 10, 20_000), 'the consumer gets the first 10')

      await strike(cluster, before.leader, t)
      await publish(10, 20)
      const asker = await connectDirect(cluster.seeds[before.leader % 3]!, { name: 'asker', requestTimeoutMs: 30_000 })
      t.teardown(() => asker.close())
      const after = (await asker.admin.metadata([topic])).topics[0]!.partitions[0]!
      t.not(after.leader, before.leader, `broker ${after.leader} leads the partition while broker ${before.leader} is ${away}`)
      const next = Array.from({ length: 10 }, (_, i) => `r${10 + i}`)
      t.ok(
        await until(async () => next.every((id) => got.includes(id)), 20_000),
        `the consumer gets the 10 published at the new leader while the old one is still ${away} (${got.length} so far)`,
      )
    })

  leaderGoes('a consumer whose leader is paused follows the partition to the broker elected in its place', 'paused-under', 'paused', async (cluster, leader, t) => {
    const paused = cluster.brokers[leader - 1]!
    process.kill(paused.pid, 'SIGSTOP')
    t.teardown(() => {
      try {
        process.kill(paused.pid, 'SIGCONT')
      } catch {
        // already gone
      }
    })
  })

  leaderGoes('a consumer whose leader is killed follows the partition once another broker is elected', 'killed-under', 'down', async (cluster, leader) => {
    await cluster.brokers[leader - 1]!.kill()
  })
}
