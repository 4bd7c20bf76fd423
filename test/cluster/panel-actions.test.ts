/**
 * The panel's publish and peek in a cluster: a broker's panel publishes
 * only to partitions that broker leads (a key led elsewhere is refused with
 * the leader's name, as a PUBLISH sent to the wrong broker is), and peeks
 * only at partitions it holds a copy of; neither ever makes a copy of a
 * partition on a broker that is not one of its replicas.
 */
import t from 'tap'
import fs from 'node:fs'
import { connect } from '../../clients/index.js'
import { partitionDir } from '../../broker/topic-store.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { act } from '../observability/panel-helpers.js'

const TOPIC = 'shown'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test("a broker's panel publishes to the partitions it leads and peeks at those it holds", async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'admin', requestTimeoutMs: 20_000 })
    t.teardown(() => admin.close())
    // Two copies of each of three partitions over three brokers: each broker lacks one partition.
    await admin.admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 2, minInSync: 1 })
    const placement = (await admin.admin.metadata([TOPIC])).topics[0]!.partitions
    const led = placement.filter((p) => p.leader === 1).map((p) => p.partition)
    const elsewhere = placement.find((p) => p.leader !== 1)!
    const absent = placement.find((p) => !p.replicas.includes(1))!
    t.ok(led.length > 0 && absent, 'broker 1 leads a partition, and holds no copy of another')
    const port = cluster.brokers[0]!.httpPort!

    for (let i = 0; i < 6; i++) {
      const r = await act(port, 'publish', { topic: TOPIC, payload: `keyless-${i}` }, undefined)
      t.equal(r.status, 200, `keyless publish ${i}`)
      t.ok(led.includes(r.json<{ partition: number }>().partition), `goes to a partition broker 1 leads (${r.json<{ partition: number }>().partition})`)
    }

    // A key whose partition another broker leads.
    const client = await connect(cluster.seeds, { name: 'app', requestTimeoutMs: 20_000 })
    t.teardown(() => client.close())
    let key: string | undefined
    for (let i = 0; key === undefined && i < 50; i++) if ((await client.producer().publish(TOPIC, 'by-client', { key: `k${i}` })).partition === elsewhere.partition) key = `k${i}`
    t.ok(key, `a key of partition ${elsewhere.partition}`)
    const refused = await act(port, 'publish', { topic: TOPIC, key, payload: 'keyed' }, undefined)
    t.equal(refused.status, 421, 'a keyed publish to a partition led elsewhere is refused')
    t.match(refused.json(), { error: { code: 'NOT_LEADER', message: new RegExp(`broker ${elsewhere.leader} at`) } }, 'naming its leader')

    const notHeld = await act(port, 'peek', { topic: TOPIC, partition: absent.partition }, undefined)
    t.equal(notHeld.status, 421, 'peeking at a partition this broker holds no copy of is refused')
    t.match(notHeld.json(), { error: { code: 'NOT_LEADER', message: /holds no copy/ } })
    const mine = await act(port, 'peek', { topic: TOPIC, partition: led[0] }, undefined)
    t.equal(mine.status, 200)
    t.ok(mine.json<{ messages: { payload: string }[] }>().messages.some((m) => m.payload.startsWith('keyless-')), 'a partition it leads shows what its panel published')

    t.notOk(fs.existsSync(partitionDir(cluster.brokers[0]!.dataDir, TOPIC, absent.partition)), `broker 1 made no copy of partition ${absent.partition}`)
  })
}
