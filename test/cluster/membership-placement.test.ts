/**
 * Three brokers on one etcd cluster: a topic made on any broker is placed
 * over all three and known to each; METADATA from any broker names every
 * partition's leader; a broker serves the partitions it leads and sends the
 * others to their leader (NOT_LEADER); a dead broker's partitions are
 * PARTITION_UNAVAILABLE until it is back, and nothing it confirmed is lost.
 */
import t from 'tap'
import { type Client } from '../../clients/index.js'
import { keyHash } from '../../protocol/index.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { until } from '../reliability/harness.js'
import { skiff } from '../e2e/cli-run.js'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a topic is placed over three brokers, and each serves the partitions it leads', async (t) => {
    const cluster = await startCluster(t, { brokers: 3 })
    const clients: Client[] = []
    t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => {}))))
    for (const url of cluster.seeds) clients.push(await connectDirect(url, { name: 'cluster-test', requestTimeoutMs: 5000, reconnect: false }))
    const [c1, c2, c3] = clients as [Client, Client, Client]
    t.same([c1, c2, c3].map((c) => c.welcome.brokerId), [1, 2, 3], 'each broker names itself')
    t.same([c1, c2, c3].map((c) => c.welcome.clusterId), ['test', 'test', 'test'])

    await c2.admin.createTopic('orders', { partitions: 12, replicationFactor: 1 }) // one copy: its partitions wait for their broker
    await t.rejects(c3.admin.createTopic('orders', { partitions: 3 }), { code: 'TOPIC_EXISTS' }, 'made once, whichever broker is asked')

    const md = await until(async () => {
      const m = await c3.admin.metadata(['orders'])
      return m.topics[0]?.partitions.length === 12 ? m : undefined
    }, 5000)
    t.ok(md, 'another broker knows the topic and all its partitions')
    t.same(
      md!.brokers.map((b) => b.id),
      [1, 2, 3],
    )
    const leaders = md!.topics[0]!.partitions.map((p) => p.leader)
    t.same([1, 2, 3].map((b) => leaders.filter((l) => l === b).length), [4, 4, 4], 'leaders spread evenly over the brokers')

    // A key goes to the partition its hash picks; publish each to its leader.
    const byBroker = new Map<number, string[]>()
    for (let i = 0; i < 60; i++) {
      const key = `k${i}`
      const leader = leaders[keyHash(Buffer.from(key)) % 12]!
      byBroker.set(leader, [...(byBroker.get(leader) ?? []), key])
    }
    for (const [leader, keys] of byBroker) {
      const producer = clients[leader - 1]!.producer()
      for (const key of keys) await producer.publish('orders', { key }, { key })
    }
    // A key led elsewhere is refused with the leader's address.
    const [elsewhere, keys] = [...byBroker].find(([leader]) => leader !== 1)!
    const err = await c1.producer().publish('orders', { key: keys[0] }, { key: keys[0]! }).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.match(err, { code: 'NOT_LEADER', details: { leader: elsewhere, host: '127.0.0.1', port: cluster.brokers[elsewhere - 1]!.port } })

    // Each broker's subscription covers the partitions it leads: together, every message once.
    const seen: string[] = []
    for (const c of clients) {
      const consumer = await c.subscribe('orders', { group: 'g', from: 'earliest' })
      const expected = byBroker.get(c.welcome.brokerId!)!.length
      for (let i = 0; i < expected; i++) {
        const m = (await consumer[Symbol.asyncIterator]().next()).value
        seen.push(m.key)
        m.ack()
      }
    }
    t.same(seen.sort(), [...byBroker.values()].flat().sort(), 'every message, from the broker that leads its partition')

    // Broker 3 dies: its partitions wait for it; the others go on.
    const led3 = leaders.map((l, p) => (l === 3 ? p : -1)).filter((p) => p >= 0)
    await cluster.brokers[2]!.kill()
    const gone = await until(async () => ((await c1.admin.metadata(['orders'])).brokers.some((b) => b.id === 3) ? undefined : true), 8000)
    t.ok(gone, 'broker 3 leaves the live set within the lease TTL')
    const key3 = [...Array(1000).keys()].map((i) => `x${i}`).find((k) => led3.includes(keyHash(Buffer.from(k)) % 12))!
    await t.rejects(c1.producer().publish('orders', 'late', { key: key3 }), { code: 'PARTITION_UNAVAILABLE' }, 'a partition of a dead broker is unavailable')
    const status = await skiff(['cluster', 'status'], { url: cluster.seeds[0] })
    t.equal(status.code, 0, status.err)
    t.match(status.out, /cluster test: 2 live brokers/)
    t.match(status.out, new RegExp(`${led3.length} partitions unavailable`))
    t.match(status.out, /orders\s+\d+\s+3\s+leader 3 not live, no in-sync replica live/)
    await t.rejects(c1.admin.purgeTopic('orders'), { code: 'PARTITION_UNAVAILABLE', message: /has no live leader/ }, 'a purge with a partition leaderless is refused before anything changes')
    const key1 = byBroker.get(1)![0]!
    t.ok(await c1.producer().publish('orders', 'still', { key: key1 }), 'a live broker goes on serving its own')

    await cluster.brokers[2]!.start()
    const back = await connectDirect(cluster.brokers[2]!.url, { name: 'cluster-test', requestTimeoutMs: 5000, reconnect: false })
    clients.push(back)
    t.equal(back.welcome.brokerId, 3)
    const consumer = await back.subscribe('orders', { group: 'audit', from: 'earliest' })
    const again: string[] = []
    for (let i = 0; i < byBroker.get(3)!.length; i++) {
      const m = (await consumer[Symbol.asyncIterator]().next()).value
      again.push(m.key)
      m.ack()
    }
    t.same(again.sort(), [...byBroker.get(3)!].sort(), 'broker 3 came back with everything it had confirmed')
  })
}
