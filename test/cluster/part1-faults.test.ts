/**
 * What cluster mode's first part survives, with one copy per partition:
 * - a broker paused past its lease TTL drops out of the cluster (its
 *   partitions PARTITION_UNAVAILABLE elsewhere, its /readyz 503), registers
 *   again when it resumes, and serves on with nothing it confirmed lost;
 * - etcd losing quorum: the brokers keep serving publishes and deliveries of
 *   the partitions they lead; creating a topic fails with a retriable error,
 *   and works again once etcd is back;
 * - observability: /readyz, the cluster gauges labelled with the broker id,
 *   and UDP telemetry stored only in partitions led where it arrives.
 */
import t from 'tap'
import { telemetry, type Client } from '../../clients/index.js'
import { keyHash } from '../../protocol/index.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { httpGet, metricValue, sleep, until } from '../reliability/harness.js'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a paused broker, and etcd without quorum', async (t) => {
    const cluster = await startCluster(t, { brokers: 3 })
    const [b1, b2] = cluster.brokers as [(typeof cluster.brokers)[0], (typeof cluster.brokers)[0]]
    const clients: Client[] = []
    t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => {}))))
    const open = async (url: string) => {
      const c = await connectDirect(url, { name: 'faults', requestTimeoutMs: 5000, reconnect: { initialDelayMs: 100, maxDelayMs: 500 } })
      clients.push(c)
      return c
    }
    const c1 = await open(b1.url)
    await c1.admin.createTopic('tele', { partitions: 6, replicationFactor: 1 }) // one copy: its partitions wait for their broker
    const md = await c1.admin.metadata(['tele'])
    const leaders = md.topics[0]!.partitions.map((p) => p.leader)
    const keyFor = (broker: number, salt = ''): string => {
      for (let i = 0; ; i++) if (leaders[keyHash(Buffer.from(`${salt}${i}`)) % 6] === broker) return `${salt}${i}`
    }

    // Observability of a healthy cluster.
    for (const b of cluster.brokers) t.equal((await httpGet(b.httpPort!, '/readyz'))?.status, 200, `broker at ${b.port} is ready`)
    const metrics = (await httpGet(b1.httpPort!, '/metrics'))!.body
    t.equal(metricValue(metrics, 'skiff_cluster_brokers', { broker: '1' }), 3, 'three live brokers, the series labelled with the broker id')
    t.equal(metricValue(metrics, 'skiff_cluster_partitions_led', { broker: '1' }), leaders.filter((l) => l === 1).length)

    // UDP: keyless records land in a partition led here; a keyed one led elsewhere drops the datagram.
    const consumer1 = await c1.subscribe('tele', { group: 'g', from: 'earliest' })
    const it1 = consumer1[Symbol.asyncIterator]()
    const udp = telemetry(`udp://127.0.0.1:${b1.port}`)
    udp.send('tele', { reading: 1 })
    await udp.flush()
    const first = (await it1.next()).value
    t.same(first.decode(), { reading: 1 }, 'a keyless datagram is stored on the broker it reached')
    t.equal(leaders[first.partition], 1)
    first.ack()
    udp.send('tele', { reading: 2 }, { key: keyFor(2) })
    await udp.close()
    const dropped = await until(async () => metricValue((await httpGet(b1.httpPort!, '/metrics'))!.body, 'skiff_udp_datagrams_total', { broker: '1', result: 'not_leader' }), 3000)
    t.equal(dropped, 1, 'a keyed datagram for a partition led elsewhere is dropped and counted')

    // Broker 2 paused for longer than the 3 s lease TTL.
    const c2 = await open(b2.url)
    const k2 = keyFor(2, 'p')
    const before = await c2.producer().publish('tele', 'before the pause', { key: k2 })
    process.kill(b2.pid, 'SIGSTOP')
    const left = await until(async () => ((await c1.admin.metadata(['tele'])).brokers.some((b) => b.id === 2) ? undefined : true), 8000)
    t.ok(left, 'the paused broker drops out of the cluster')
    await t.rejects(c1.producer().publish('tele', 'x', { key: k2 }), { code: 'PARTITION_UNAVAILABLE' })
    await sleep(1000)
    process.kill(b2.pid, 'SIGCONT')
    const back = await until(async () => ((await c1.admin.metadata(['tele'])).brokers.some((b) => b.id === 2) ? true : undefined), 10_000)
    t.ok(back, 'it registers again when it resumes')
    t.equal((await until(async () => ((await httpGet(b2.httpPort!, '/readyz'))?.status === 200 ? 200 : undefined), 5000)) ?? 503, 200, 'and is ready again')
    const after = await c2.producer().publish('tele', 'after the pause', { key: k2 })
    t.equal(after.partition, before.partition)
    t.equal(after.offset, before.offset + 1, 'its partition carries on where it was: nothing confirmed lost')

    // etcd loses quorum: two of three members killed.
    await cluster.etcd.kill(1)
    await cluster.etcd.kill(2)
    const k1 = keyFor(1, 'q')
    const during = await c1.producer().publish('tele', 'while etcd is down', { key: k1 })
    t.ok(during.offset >= 0, 'a broker goes on taking publishes for the partitions it leads')
    const m = (await it1.next()).value
    t.equal(m.decode(), 'while etcd is down', 'and delivering them')
    m.ack()
    await t.rejects(c1.admin.createTopic('while-down', { partitions: 1 }), { retriable: true, message: /etcd/ }, 'creating a topic fails, retriably')
    await cluster.etcd.restart(1)
    await cluster.etcd.restart(2)
    await cluster.etcd.waitHealthy(15_000)
    const made = await until(
      () =>
        c1.admin.createTopic('after-etcd', { partitions: 1 }).then(
          () => true,
          () => undefined,
        ),
      15_000,
    )
    t.ok(made, 'topic creation works again once etcd is back')
  })
}
