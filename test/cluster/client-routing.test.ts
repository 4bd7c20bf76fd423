/**
 * A client given one seed of a three-broker cluster finds the other brokers
 * through METADATA and routes by itself: keyed records to their partition's
 * leader, keyless ones spread over the brokers, one consumer merging every
 * broker's partitions. A broker SIGKILLed (every partition has three
 * copies): publishes for its partitions are confirmed by the followers
 * elected in its place, without waiting for it, the rest go on, the same
 * consumer goes on receiving, and reading the topic back after it restarted
 * finds every confirmed record once. Publishing to a topic nobody made: it is created where the first
 * records land, and keyed records that broker does not lead are refused
 * (NOT_LEADER) and sent again to their leader. The seed's broker restarting:
 * the client's events tell of the seed connection, routing goes on.
 */
import t from 'tap'
import { Consumer, connect, type Message, type PublishResult } from '../../clients/index.js'
import { keyHash } from '../../protocol/index.js'
import { clusterMissing, startCluster } from './broker-cluster.js'
import { sleep, timeout, until } from '../reliability/harness.js'

const KEYS = 30
const PARTITIONS = 12

interface Body {
  id: string
  key?: string
  seq?: number
}

interface Seen {
  id: string
  key: string | undefined
  seq: number | undefined
  at: string
}

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('the client routes publishes and subscriptions over the cluster by itself', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--default-partitions', '6'] })
    const b2 = cluster.brokers[1]!
    // One seed only: the other two brokers are found through METADATA.
    const client = await connect(cluster.seeds[0]!, { name: 'routing', requestTimeoutMs: 30_000, reconnect: { initialDelayMs: 100, maxDelayMs: 500 } })
    t.teardown(() => client.close().catch(() => {}))
    t.equal(client.welcome.clustered, true)

    await client.admin.createTopic('orders', { partitions: PARTITIONS })
    const md = await until(async () => {
      const m = await client.admin.metadata(['orders'])
      return m.topics[0]?.partitions.length === PARTITIONS ? m : undefined
    }, 5000)
    const leaders = md!.topics[0]!.partitions.map((p) => p.leader)
    t.same([1, 2, 3].map((b) => leaders.filter((l) => l === b).length), [4, 4, 4], 'each broker leads four partitions')

    const seen: Seen[] = []
    const consumer = await client.subscribe('orders', { group: 'g', from: 'earliest' }, (msg: Message) => {
      const body = msg.decode<Body>()
      seen.push({ id: body.id, key: body.key, seq: body.seq, at: `${msg.partition}:${msg.offset}` })
      msg.ack()
    })
    t.ok(consumer instanceof Consumer, 'subscribe still returns a Consumer')

    const producer = client.producer({ maxInFlight: 2000 })
    const confirmed = new Map<string, PublishResult>()
    const publish = (body: Body): Promise<PublishResult> =>
      producer.publish('orders', body, body.key === undefined ? {} : { key: body.key }).then((r) => {
        confirmed.set(body.id, r)
        return r
      })
    const keyed = (round: number, i: number): Body => ({ id: `k${round}-${i}`, key: `key${i % KEYS}`, seq: round * 1000 + Math.floor(i / KEYS) })

    // 600 keyed and 300 keyless, all with confirm. The keyless ones in 12 turns of 25: each turn's
    // batch goes to one partition, the next turn's to the next (sticky-partitions.ts).
    const first: Promise<PublishResult>[] = []
    for (let i = 0; i < 600; i++) first.push(publish(keyed(0, i)))
    for (let turn = 0; turn < 12; turn++) {
      for (let i = 0; i < 25; i++) first.push(publish({ id: `n0-${turn * 25 + i}` }))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all(first)
    t.equal(confirmed.size, 900, 'every publish confirmed')
    const keylessBatches = [...confirmed].filter(([id]) => id.startsWith('n')).map(([id, r]) => [Math.floor(Number(id.split('-')[1]) / 25), r.partition])
    t.same(
      [...new Set(keylessBatches.map(([turn, partition]) => `${turn}:${partition}`))].length,
      12,
      "a turn's keyless records stay together in one partition",
    )
    const misplaced = [...confirmed].filter(([id]) => id.startsWith('k')).filter(([id, r]) => r.partition !== keyHash(Buffer.from(`key${Number(id.split('-')[1]) % KEYS}`)) % PARTITIONS)
    t.equal(misplaced.length, 0, "each keyed record is in its key's partition")
    const keylessBrokers = new Set([...confirmed].filter(([id]) => id.startsWith('n')).map(([, r]) => leaders[r.partition]))
    t.same([...keylessBrokers].sort(), [1, 2, 3], 'keyless records are spread over the three brokers')

    t.ok(await until(() => new Set(seen.map((s) => s.id)).size >= 900, 20_000), 'the consumer received all 900')
    await sleep(300)
    t.equal(seen.length, 900, 'each exactly once')
    t.same(keyOrderBreaks(seen), [], "every key's records arrived in publish order")

    // Broker 2 SIGKILLed: every partition has three copies, so an in-sync follower leads each of its
    // partitions about a lease TTL later, and publishing goes on without waiting for it to come back.
    await b2.kill()
    await sleep(500)
    // A consumer made while broker 2 is down: subscribed at the others, which lead its partitions once elected.
    const duringIds = new Set<string>()
    const duringConsumer = await client.subscribe('orders', { group: 'during', from: 'earliest' }, (msg: Message) => {
      duringIds.add(msg.decode<Body>().id)
      msg.ack()
    })
    const second: Promise<PublishResult>[] = []
    const outage: Body[] = []
    for (let i = 0; i < 120; i++) outage.push(keyed(1, i))
    for (let i = 0; i < 60; i++) outage.push({ id: `n1-${i}` })
    for (const body of outage) second.push(publish(body))
    const ledBy2 = (b: Body): boolean => b.key !== undefined && leaders[keyHash(Buffer.from(b.key)) % PARTITIONS] === 2
    t.ok(outage.some(ledBy2), "some of them are for the dead broker's partitions")
    const outcomes = await Promise.allSettled(second)
    t.same(
      outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
      [],
      "while the broker is down, every publish is confirmed, those for its partitions by their new leaders",
    )
    t.equal(confirmed.size, 1080)
    t.same(
      outage.filter((b) => b.key !== undefined && confirmed.get(b.id)!.partition !== keyHash(Buffer.from(b.key)) % PARTITIONS).map((b) => b.id),
      [],
      "each keyed record is in its key's partition, whoever leads it",
    )
    const moved = (await client.admin.metadata(['orders'])).topics[0]!.partitions
    t.same(
      moved.filter((p) => p.leader === 2).map((p) => p.partition),
      [],
      'no partition is led by the dead broker any more',
    )
    // Back, it follows the partitions it led (no election moves them back).
    await b2.start()

    await until(() => new Set(seen.map((s) => s.id)).size >= 1080, 30_000)
    const got = new Set(seen.map((s) => s.id))
    const notReceived = [...confirmed].filter(([id]) => !got.has(id)).map(([id, r]) => `${id} at ${r.partition}:${r.offset} (broker ${leaders[r.partition]})`)
    t.same(notReceived, [], 'the same consumer goes on receiving, with no new subscribe')
    t.same(keyOrderBreaks(seen), [], 'key order holds across the restart (first deliveries)')
    t.notOk(consumer.closed)
    await until(() => duringIds.size >= 1080, 20_000)
    t.same(
      [...confirmed.keys()].filter((id) => !duringIds.has(id)),
      [],
      'a consumer subscribed while a broker was down reads its partitions too once it is back',
    )
    await duringConsumer.close()

    // The checker: a new group from the start, iterated, reads every confirmed record once, where it was confirmed.
    const check = new Map<string, Set<string>>()
    const checker = await client.subscribe('orders', { group: 'check', from: 'earliest' })
    const it = checker[Symbol.asyncIterator]()
    const deadline = Date.now() + 20_000
    let next = it.next()
    // Until everything came and nothing more for 500 ms (a record stored twice would come then), or the deadline.
    while (Date.now() < deadline) {
      const r = await Promise.race([next, timeout(500).then(() => null)])
      if (r === null) {
        if (check.size >= confirmed.size) break
        continue
      }
      if (r.done) break
      next = it.next()
      const msg = r.value
      const at = check.get(msg.decode<Body>().id) ?? new Set<string>()
      at.add(`${msg.partition}:${msg.offset}`)
      check.set(msg.decode<Body>().id, at)
      msg.ack()
    }
    t.equal(check.size, confirmed.size, 'the checker read every confirmed record')
    const stored = [...check.values()].reduce((n, s) => n + s.size, 0)
    t.equal(stored, confirmed.size, 'no record stored twice')
    const wrong = [...confirmed].filter(([id, r]) => !check.get(id)?.has(`${r.partition}:${r.offset}`))
    t.same(wrong, [], 'each record at the partition and offset its publish was confirmed with')
    await checker.close()
    t.ok(checker.closed)
    await consumer.close()

    // A topic nobody made: the first publishes go to any one broker, which creates it over the three
    // brokers; the keyed records whose partition it does not lead are refused with NOT_LEADER
    // (nothing stored) and sent again to their leader once metadata has the placement.
    const fresh: Promise<PublishResult>[] = []
    for (let i = 0; i < 40; i++) fresh.push(producer.publish('fresh', { i }, { key: `f${i}` }))
    for (let i = 0; i < 10; i++) fresh.push(producer.publish('fresh', { i }))
    const results = await Promise.all(fresh)
    const placed = (await client.admin.metadata(['fresh'])).topics[0]!
    const n = placed.partitions.length
    t.equal(n, 6, 'the topic was created by publishing to it')
    // Leaders go to the brokers leading fewest (the restarted one first), copies to all three.
    t.same(
      placed.partitions.filter((p) => p.replicas.length !== 3 || ![1, 2, 3].includes(p.leader)).map((p) => p.partition),
      [],
      'each of its partitions has a copy on each of the three brokers and a live leader',
    )
    t.same(
      results.slice(0, 40).filter((r, i) => r.partition !== keyHash(Buffer.from(`f${i}`)) % n),
      [],
      "keyed records to a new topic are in their key's partition",
    )

    // Subscribing to a topic nobody made: created by the subscription, then subscribed at each of its leaders.
    const unmade: string[] = []
    const late = await client.subscribe('unmade', { group: 'g', from: 'earliest' }, (msg: Message) => {
      unmade.push(msg.decode<string>())
      msg.ack()
    })
    await Promise.all(Array.from({ length: 30 }, (_, i) => producer.publish('unmade', `u${i}`, { key: `u${i}` })))
    await until(() => unmade.length >= 30, 10_000)
    await sleep(300)
    t.same([...unmade].sort(), Array.from({ length: 30 }, (_, i) => `u${i}`).sort(), 'a consumer of a topic it made receives from all its brokers, each record once')
    t.same(late.partitions, [0, 1, 2, 3, 4, 5])
    await late.close()

    t.equal(client.status, 'connected', 'status tells the seed connection')
  })
}

if (!missing) {
  t.test('the seed broker restarting: events tell the seed connection, routing goes on', async (t) => {
    const cluster = await startCluster(t, { brokers: 3 })
    const b1 = cluster.brokers[0]!
    // Every broker as a seed, the killed one first: the seed connection is to broker 1.
    const client = await connect(cluster.seeds, { name: 'routing-seed', requestTimeoutMs: 30_000, reconnect: { initialDelayMs: 100, maxDelayMs: 500 } })
    t.teardown(() => client.close().catch(() => {}))
    t.equal(client.welcome.brokerId, 1)
    const events: string[] = []
    client.on('disconnect', () => events.push('disconnect'))
    client.on('reconnect', (info) => events.push(`reconnect ${info.welcome.brokerId}`))
    await client.admin.createTopic('seeded', { partitions: 6 })
    const received = new Set<string>()
    await client.subscribe('seeded', { group: 'g', from: 'earliest' }, (msg: Message) => {
      received.add(msg.decode<string>())
      msg.ack()
    })
    const producer = client.producer()
    await Promise.all(Array.from({ length: 30 }, (_, i) => producer.publish('seeded', `a${i}`)))

    await b1.kill()
    t.ok(await until(() => events.includes('disconnect'), 5000), "the seed connection's loss is the client's 'disconnect'")
    // Keyless records go to the brokers still up while the seed's broker is away.
    const outage = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => producer.publish('seeded', `b${i}`)))
    t.same(
      outage.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
      [],
      'keyless publishes go on during the outage',
    )
    await b1.start()
    t.ok(await until(() => events.some((e) => e.startsWith('reconnect')), 20_000), "the seed connection back is the client's 'reconnect'")
    t.equal(client.status, 'connected')
    await Promise.all(Array.from({ length: 30 }, (_, i) => producer.publish('seeded', `c${i}`, { key: `c${i}` })))
    await until(() => received.size >= 90, 20_000)
    const all = ['a', 'b', 'c'].flatMap((p) => Array.from({ length: 30 }, (_, i) => `${p}${i}`))
    t.same(
      all.filter((id) => !received.has(id)),
      [],
      'the consumer received everything, before, during and after',
    )
  })
}

/** Keys whose first deliveries came out of publish order. */
function keyOrderBreaks(seen: Seen[]): string[] {
  const firstSeen = new Set<string>()
  const last = new Map<string, number>()
  const breaks: string[] = []
  for (const s of seen) {
    if (s.key === undefined || firstSeen.has(s.id)) continue
    firstSeen.add(s.id)
    const prev = last.get(s.key) ?? -1
    if (s.seq! <= prev) breaks.push(`${s.key}: ${s.seq} after ${prev}`)
    last.set(s.key, s.seq!)
  }
  return breaks
}
