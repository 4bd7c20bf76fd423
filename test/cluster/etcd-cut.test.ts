/**
 * A broker cut off from etcd (its link to etcd goes through a fault proxy):
 * within its lease TTL the other brokers take it for gone and send nobody to
 * it, its /readyz turns 503 and skiff_cluster_registered 0; it keeps serving
 * the partitions it leads to the clients that reach it (one copy: nothing can
 * move them, docs/cluster.md); when the link heals it registers again, and
 * its partition carries on where it was.
 */
import path from 'node:path'
import t from 'tap'
import type { Client } from '../../clients/index.js'
import { keyHash } from '../../protocol/index.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { FaultProxy } from './fault-proxy.js'
import { BrokerRunner, httpGet, metricValue, tempDir, until } from '../reliability/harness.js'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a broker cut off from etcd drops out of the cluster, serves its own partitions, and comes back', async (t) => {
    const cluster = await startCluster(t, { brokers: 2 })
    const member = new URL(cluster.etcd.members[0]!.clientUrl)
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: Number(member.port) } })
    t.teardown(() => proxy.close())
    const dataDir = path.join(tempDir(t, 'cut'), 'b3')
    const b3 = await BrokerRunner.create({
      dataDir,
      args: ['--data-dir', dataDir, '--cluster', `etcd://127.0.0.1:${proxy.listenPort}`, '--broker-id', '3', '--cluster-name', 'test', '--workers', '1'],
    })
    t.teardown(() => b3.kill())
    await b3.start()

    const clients: Client[] = []
    t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => {}))))
    // Clients of one broker each (no routing): to see what each broker itself answers.
    const c1 = await connectDirect(cluster.seeds[0]!, { name: 'cut', requestTimeoutMs: 5000 })
    const c3 = await connectDirect(b3.url, { name: 'cut', requestTimeoutMs: 5000 })
    clients.push(c1, c3)
    await c3.admin.createTopic('cut', { partitions: 6, replicationFactor: 1 }) // one copy: its leader serves it through an etcd cut
    const leaders = (await c1.admin.metadata(['cut'])).topics[0]!.partitions.map((p) => p.leader)
    t.same([1, 2, 3].map((b) => leaders.filter((l) => l === b).length), [2, 2, 2], 'placed over the three brokers')
    let key = ''
    for (let i = 0; i < 10_000 && !key; i++) if (leaders[keyHash(Buffer.from(`c${i}`)) % 6] === 3) key = `c${i}`
    const before = await c3.producer().publish('cut', 'before', { key })

    proxy.cut()
    const gone = await until(async () => ((await c1.admin.metadata(['cut'])).brokers.some((b) => b.id === 3) ? undefined : true), 10_000)
    t.ok(gone, 'the others take it for gone within its lease TTL')
    await t.rejects(c1.producer().publish('cut', 'x', { key }), { code: 'PARTITION_UNAVAILABLE' }, 'and send nobody to it')
    const unready = await until(async () => ((await httpGet(b3.httpPort!, '/readyz'))?.status === 503 ? true : undefined), 5000)
    t.ok(unready, 'its /readyz says 503')
    const metrics = (await httpGet(b3.httpPort!, '/metrics'))!.body
    t.equal(metricValue(metrics, 'skiff_cluster_registered', { broker: '3' }), 0, 'and skiff_cluster_registered 0')
    const during = await c3.producer().publish('cut', 'during', { key })
    t.equal(during.offset, before.offset + 1, 'it still serves its own partition to the clients that reach it')

    proxy.heal()
    const back = await until(async () => ((await c1.admin.metadata(['cut'])).brokers.some((b) => b.id === 3) ? true : undefined), 20_000)
    t.ok(back, 'it registers again once the link heals')
    t.ok(await until(async () => ((await httpGet(b3.httpPort!, '/readyz'))?.status === 200 ? true : undefined), 5000), 'and is ready')
    const after = await c3.producer().publish('cut', 'after', { key })
    t.equal(after.offset, before.offset + 2, 'its partition carries on: nothing confirmed lost')
  })
}
