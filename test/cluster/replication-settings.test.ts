/**
 * A topic's replication factor and minInSync in a cluster: the defaults
 * (three copies and two in sync with three live brokers; one copy per live
 * broker with fewer), values given explicitly, what TOPIC_DESCRIBE, METADATA,
 * the CLI and the partition keys in etcd then say, and the refusals: values
 * out of range (INVALID_REQUEST naming the field) and more copies than live
 * brokers (PARTITION_UNAVAILABLE naming both numbers).
 */
import t from 'tap'
import { type Client } from '../../clients/index.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'
import { clusterKeys } from '../../broker/cluster/keys.js'
import { parseBroker, parsePartition } from '../../broker/cluster/records.js'
import { skiff, lines } from '../e2e/cli-run.js'
import { until } from '../reliability/harness.js'

const options = { name: 'rf-test', requestTimeoutMs: 5000, reconnect: false }

/** Every partition of `topic` as METADATA from `client` gives it, once it has all `partitions`. */
async function placementOf(client: Client, topic: string, partitions: number) {
  const md = await until(async () => {
    const m = await client.admin.metadata([topic])
    return m.topics[0]?.partitions.length === partitions ? m : undefined
  }, 5000)
  if (!md) throw new Error(`METADATA never showed the ${partitions} partitions of ${topic}`)
  return md.topics[0]!.partitions
}

/** TOPIC_DESCRIBE from a broker that may still be writing a topic made elsewhere to its disk (UNKNOWN_TOPIC until then). */
async function describeOn(client: Client, topic: string) {
  const d = await until(() => client.admin.describeTopic(topic).catch((err: unknown) => ((err as { code?: string }).code === 'UNKNOWN_TOPIC' ? undefined : Promise.reject(err))), 5000)
  if (!d) throw new Error(`broker never described ${topic}`)
  return d
}

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('three live brokers: 3/2 by default, explicit values kept, bad ones refused', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, etcdMembers: 1 })
    const clients: Client[] = []
    t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => {}))))
    for (const url of cluster.seeds) clients.push(await connectDirect(url, options))
    const [c1, c2, c3] = clients as [Client, Client, Client]

    // Defaults.
    const made = await c1.admin.createTopic('rf-default', { partitions: 6 })
    t.match(made, { topic: 'rf-default', partitions: 6, replicationFactor: 3, minInSync: 2 }, 'three copies, two in sync')
    const parts = await placementOf(c2, 'rf-default', 6)
    for (const p of parts) {
      t.equal(new Set(p.replicas).size, 3, `partition ${p.partition}: three distinct brokers`)
      t.ok(p.replicas.every((id) => [1, 2, 3].includes(id)), `partition ${p.partition}: on live brokers`)
      t.equal(p.leader, p.replicas[0], `partition ${p.partition}: led by its first replica`)
      t.same([...p.isr].sort(), [...p.replicas].sort(), `partition ${p.partition}: every replica in sync at creation`)
    }
    const described = await describeOn(c3, 'rf-default')
    t.match(described, { replicationFactor: 3, minInSync: 2 }, 'another broker describes the same settings')
    t.same(described.placement, parts, 'describe places every partition as METADATA does')
    t.same(
      described.partitionInfo.map((p) => p.partition),
      parts.map((p) => p.partition),
      'offsets of every partition, each from its leader',
    )

    // The partition keys: each in-sync member with its broker's incarnation and data directory.
    const etcd = cluster.etcd.client()
    const keys = clusterKeys('test')
    const brokers = new Map<number, ReturnType<typeof parseBroker>>()
    for (const id of [1, 2, 3]) brokers.set(id, parseBroker((await etcd.get(keys.broker(id))).kvs[0]!.value))
    for (let p = 0; p < 6; p++) {
      const record = parsePartition((await etcd.get(keys.partition('rf-default', p))).kvs[0]!.value)
      t.ok(record, `partition key ${p} parses`)
      t.same(
        record!.isr.map((m) => ({ id: m.id, incarnation: m.incarnation, dirId: m.dirId })),
        record!.replicas.map((id) => ({ id, incarnation: brokers.get(id)!.incarnation, dirId: brokers.get(id)!.dirId })),
        `partition ${p}: isr members carry their broker's incarnation and dirId`,
      )
    }
    const topicKey = JSON.parse((await etcd.get(keys.topic('rf-default'))).kvs[0]!.value) as Record<string, unknown>
    t.match(topicKey, { partitions: 6, replicationFactor: 3, minInSync: 2 }, 'the topic key holds the settings')

    // Explicit values.
    t.match(await c2.admin.createTopic('rf-two', { partitions: 4, replicationFactor: 2, minInSync: 1 }), { replicationFactor: 2, minInSync: 1 })
    for (const p of await placementOf(c3, 'rf-two', 4)) {
      t.equal(new Set(p.replicas).size, 2, `rf-two/${p.partition}: two distinct brokers`)
      t.same([...p.isr].sort(), [...p.replicas].sort())
    }
    t.match(await describeOn(c3, 'rf-two'), { replicationFactor: 2, minInSync: 1 })
    t.match(await c1.admin.createTopic('rf-one', { partitions: 3, replicationFactor: 1 }), { replicationFactor: 1, minInSync: 1 }, 'one copy: minInSync defaults to 1')
    t.ok((await placementOf(c1, 'rf-one', 3)).every((p) => p.replicas.length === 1 && p.isr.length === 1))
    t.match(await c1.admin.createTopic('rf-three-three', { minInSync: 3 }), { replicationFactor: 3, minInSync: 3 })

    // Refusals: nothing is created.
    const invalid: [string, { replicationFactor?: number; minInSync?: number }, RegExp][] = [
      ['rf-zero', { replicationFactor: 0 }, /replicationFactor must be an integer from 1 to 64, got 0/],
      ['rf-many', { replicationFactor: 65 }, /replicationFactor must be an integer from 1 to 64, got 65/],
      ['rf-min-zero', { minInSync: 0 }, /minInSync must be an integer from 1 to 64, got 0/],
      ['rf-min-above', { replicationFactor: 2, minInSync: 3 }, /minInSync 3 is more than replicationFactor 2/],
      ['rf-min-default', { minInSync: 4 }, /minInSync 4 is more than replicationFactor 3 \(the default here/],
      ['rf-frac', { replicationFactor: 2.5 }, /TOPIC_CREATE\.replicationFactor must be an integer/],
    ]
    for (const [topic, opts, message] of invalid) {
      await t.rejects(c1.admin.createTopic(topic, opts), { code: 'INVALID_REQUEST', message }, `${JSON.stringify(opts)} refused`)
    }
    await t.rejects(
      c2.admin.createTopic('rf-four', { replicationFactor: 4 }),
      { code: 'PARTITION_UNAVAILABLE', retriable: true, message: /replicationFactor 4 needs 4 live brokers, and the cluster has 3/, details: { replicationFactor: 4, liveBrokers: 3 } },
      'more copies than live brokers',
    )
    const listed = (await c3.admin.metadata()).topics.map((x) => x.topic)
    for (const topic of [...invalid.map(([name]) => name), 'rf-four']) t.notOk(listed.includes(topic), `${topic} was not created`)

    // The CLI.
    let r = await skiff(['topics', 'create', 'rf-cli', '--partitions', '2', '--replication-factor', '2', '--min-in-sync', '2'], { url: cluster.seeds[0] })
    t.same(r, { code: 0, out: 'created topic rf-cli with 2 partitions, 2 copies each (2 in sync to confirm)\n', err: '' })
    await describeOn(c2, 'rf-cli')
    r = await skiff(['topics', 'describe', 'rf-cli'], { url: cluster.seeds[1] })
    t.equal(r.code, 0, r.err)
    t.match(r.out, /\n\s+replication\s+2 copies per partition, 2 in sync to confirm a publish\n/)
    t.match(r.out, /PARTITION\s+LEADER\s+REPLICAS\s+ISR\s+START\s+END/)
    const rows = lines(r.out).filter((l) => /^\d+\s/.test(l))
    t.equal(rows.length, 2, 'a line per partition, led here or not')
    for (const row of rows) t.match(row, /^\d+\s+[123]\s+[123],[123]\s+[123],[123]\s/, 'leader, replicas and isr')
    r = await skiff(['topics', 'create', 'rf-cli-bad', '--replication-factor', '5'], { url: cluster.seeds[0] })
    t.match(r, { code: 1, err: /replicationFactor 5 needs 5 live brokers, and the cluster has 3.*\[PARTITION_UNAVAILABLE\]/ })
  })

  t.test('two live brokers: 2/2 by default, three copies refused', async (t) => {
    const cluster = await startCluster(t, { brokers: 2, etcdMembers: 1 })
    const c = await connectDirect(cluster.seeds[1]!, options)
    t.teardown(() => c.close())
    t.match(await c.admin.createTopic('rf-pair', { partitions: 4 }), { replicationFactor: 2, minInSync: 2 }, 'a copy on each live broker, both in sync')
    for (const p of await placementOf(c, 'rf-pair', 4)) t.same([...p.replicas].sort(), [1, 2], `partition ${p.partition} on both brokers`)
    await t.rejects(c.admin.createTopic('rf-triple', { replicationFactor: 3 }), {
      code: 'PARTITION_UNAVAILABLE',
      message: /topic rf-triple was not created: replicationFactor 3 needs 3 live brokers, and the cluster has 2/,
    })
  })
}
