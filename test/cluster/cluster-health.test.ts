/**
 * Three brokers on etcd, with partition keys written by hand as a replicating
 * cluster would leave them (an in-sync set missing a live broker, a replica
 * whose broker is gone, a member restarted since it was taken in, a leader
 * that is gone): `skiff cluster status` names each partition and why, every
 * broker's /metrics counts them, the panel lists them (in headless Chromium
 * where it is installed), and /readyz turns 503
 * on the broker that leads a partition below its topic's minInSync.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { clusterKeys } from '../../broker/cluster/keys.js'
import { httpGet, metricValue, until } from '../reliability/harness.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'

const cli = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))
const keys = clusterKeys('test')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('under-replicated and unavailable partitions are named with their reason by status, metrics, the panel and /readyz', async (t) => {
    const cluster = await startCluster(t, { brokers: 3 })
    const etcd = cluster.etcd.client()
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'health-test', requestTimeoutMs: 5000, reconnect: false })
    t.teardown(() => admin.close())
    // One copy each: the hand-written keys below are then only read, never repaired by a leader
    // (a replicated topic's leader would write its in-sync set back as it finds it).
    await admin.admin.createTopic('orders', { partitions: 3, replicationFactor: 1 })
    await admin.admin.createTopic('audit', { partitions: 1, replicationFactor: 1 })

    const incarnation = async (id: number) => (JSON.parse((await etcd.get(keys.broker(id))).kvs[0]!.value) as { incarnation: string }).incarnation
    const member = async (id: number) => ({ id, incarnation: await incarnation(id) })
    const put = (topic: string, partition: number, leader: number, replicas: number[], isr: { id: number; incarnation: string }[]) =>
      etcd.put(keys.partition(topic, partition), JSON.stringify({ leader, leaderEpoch: 2, replicas, isr }))
    await put('orders', 0, 1, [1, 2, 3], [await member(1), await member(2)])
    await put('orders', 1, 2, [2, 3, 4], [await member(2), await member(3), { id: 4, incarnation: 'never-started' }])
    await put('orders', 2, 3, [3, 1, 2], [await member(3), await member(1), { id: 2, incarnation: 'an-earlier-run' }])
    await put('audit', 0, 5, [5, 1], [{ id: 5, incarnation: 'gone' }])

    // Every broker sees it from its own watch of etcd.
    for (const b of cluster.brokers) {
      const counted = await until(async () => {
        const text = await b.metrics()
        return text && metricValue(text, 'skiff_cluster_under_replicated_partitions') === 3 && metricValue(text, 'skiff_cluster_partitions_unavailable') === 1 ? text : undefined
      }, 10_000)
      t.ok(counted, `broker ${b.url} counts 3 under-replicated partitions and 1 unavailable`)
    }

    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'cluster', 'status', '--url', cluster.seeds[1]!])
    t.match(stdout, /cluster test: 3 live brokers/)
    t.match(stdout, /1 partition unavailable:/)
    t.match(stdout, /audit\s+0\s+5\s+leader 5 not live, no in-sync replica live/)
    t.match(stdout, /3 partitions under-replicated:/)
    t.match(stdout, /orders\s+0\s+1\s+1,2,3\s+1,2\s+broker 3 out of sync/)
    t.match(stdout, /orders\s+1\s+2\s+2,3,4\s+2,3,4\s+broker 4 not live/)
    t.match(stdout, /orders\s+2\s+3\s+3,1,2\s+3,1,2\s+broker 2 restarted, catching up/)

    const json = JSON.parse((await promisify(execFile)(process.execPath, [cli, 'cluster', 'status', '--json', '--url', cluster.seeds[2]!])).stdout) as {
      underReplicated: { topic: string; partition: number; reason: string }[]
    }
    t.same(
      json.underReplicated.map((u) => `${u.topic}/${u.partition}: ${u.reason}`),
      ['orders/0: broker 3 out of sync', 'orders/1: broker 4 not live', 'orders/2: broker 2 restarted, catching up'],
      '--json carries the same',
    )

    const node = JSON.parse((await httpGet(cluster.brokers[0]!.httpPort!, '/api/node'))!.body) as {
      cluster: { underReplicatedCount: number; moving: number; underReplicated: { partition: number; isr: number[] }[]; leaderless: { topic: string; leader: number; reason: string }[]; replication: Record<string, number> }
    }
    t.equal(node.cluster.underReplicatedCount, 3, 'the panel has the count')
    t.equal(node.cluster.moving, 0, 'nothing moving')
    t.same(node.cluster.underReplicated.map((u) => [u.partition, u.isr]), [[0, [1, 2]], [1, [2, 3, 4]], [2, [3, 1, 2]]])
    t.same(node.cluster.leaderless, [{ topic: 'audit', partition: 0, leader: 5, reason: 'leader 5 not live, no in-sync replica live' }])
    t.same(Object.keys(node.cluster.replication).sort(), ['elections', 'handovers', 'isrExpands', 'isrShrinks', 'moves'])

    if (fs.existsSync(CHROMIUM)) {
      const { chromium } = await import('playwright-core')
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-chromium-'))
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
        timeout: 30_000,
      })
      try {
        const page = await browser.newPage()
        await page.goto(`http://127.0.0.1:${cluster.brokers[0]!.httpPort}/`, { timeout: 15_000 })
        const row = '#cluster-partitions tr[data-kind="under-replicated"][data-topic="orders"][data-partition="0"]'
        await page.waitForSelector(`${row} td:text-is("broker 3 out of sync")`, { timeout: 15_000 })
        t.pass('the panel lists orders/0 as under-replicated, with the reason')
        t.match(await page.textContent('#cluster-partitions tr[data-kind="unavailable"][data-topic="audit"]'), /leader 5 not live/)
        t.equal(await page.textContent('#cluster-count'), '4 of 4 partitions needing attention shown')
        t.equal(await page.textContent('#node dd[data-k="under-replicated"]'), '3 partitions')
        t.equal(await page.textContent('#node dd[data-k="moving"]'), '0 partitions (0 moves finished here)', 'and what is moving')
      } finally {
        await browser.close()
        fs.rmSync(profile, { recursive: true, force: true })
      }
    } else t.comment(`${CHROMIUM} not found: the panel is not checked in a browser`)

    // Ready while every partition has at least its topic's minInSync (1) in sync.
    for (const b of cluster.brokers) t.equal((await httpGet(b.httpPort!, '/readyz'))?.status, 200)
    // orders now needs 3 in sync: broker 1 leads orders/0, which has 2.
    const topicKey = keys.topic('orders')
    const record = JSON.parse((await etcd.get(topicKey)).kvs[0]!.value) as Record<string, unknown>
    await etcd.put(topicKey, JSON.stringify({ ...record, minInSync: 3 }))
    const unready = await until(async () => {
      const r = await httpGet(cluster.brokers[0]!.httpPort!, '/readyz')
      return r?.status === 503 ? r : undefined
    }, 10_000)
    t.ok(unready, 'broker 1 is not ready')
    t.equal(unready?.body, 'not ready: 1 partition led here below minInSync: orders/0 has 2 in-sync of minInSync 3\n')
    for (const b of cluster.brokers.slice(1)) t.equal((await httpGet(b.httpPort!, '/readyz'))?.status, 200, 'the brokers leading partitions with 3 in sync stay ready')
  })
}
