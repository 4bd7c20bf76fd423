/**
 * Partition placement and the cluster's keys and values: what a broker
 * writes into etcd when it creates a topic, and what it accepts back.
 */
import t from 'tap'
import fc from 'fast-check'
import { placePartitions } from '../../broker/cluster/placement.js'
import { clusterKeys, parseKey } from '../../broker/cluster/keys.js'
import { parseBroker, parsePartition, parseTopic } from '../../broker/cluster/records.js'

t.test('every partition gets replicationFactor distinct live brokers, and leaders spread evenly', async () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 7 }),
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 1, max: 5 }),
      fc.string({ minLength: 1, maxLength: 20 }),
      (brokers, partitions, rfWanted, topic) => {
        const rf = Math.min(rfWanted, brokers.length)
        const placed = placePartitions({ topic, partitions, replicationFactor: rf, brokers })
        if (placed.length !== partitions) throw new Error('one entry per partition')
        const leads = new Map<number, number>()
        for (const replicas of placed) {
          if (replicas.length !== rf || new Set(replicas).size !== rf) throw new Error(`replicas ${replicas}`)
          for (const r of replicas) if (!brokers.includes(r)) throw new Error(`${r} is not live`)
          leads.set(replicas[0]!, (leads.get(replicas[0]!) ?? 0) + 1)
        }
        const counts = brokers.map((b) => leads.get(b) ?? 0)
        if (Math.max(...counts) - Math.min(...counts) > 1) throw new Error(`leaders uneven: ${counts}`)
        const again = placePartitions({ topic, partitions, replicationFactor: rf, brokers: [...brokers].reverse() })
        if (JSON.stringify(again) !== JSON.stringify(placed)) throw new Error('not the same answer for the same cluster')
      },
    ),
  )
})

t.test('leaders go to the brokers that lead the least', async (t) => {
  const placed = placePartitions({ topic: 'orders', partitions: 4, replicationFactor: 1, brokers: [1, 2, 3], leading: new Map([[1, 10], [2, 10]]) })
  t.same(
    placed.map((r) => r[0]),
    [3, 3, 3, 3],
    'broker 3 leads 0 to their 10: it takes all four',
  )
  const even = placePartitions({ topic: 'orders', partitions: 6, replicationFactor: 2, brokers: [1, 2, 3] })
  t.same(
    [1, 2, 3].map((b) => even.filter((r) => r[0] === b).length),
    [2, 2, 2],
    'on an idle cluster each of three leads two of six',
  )
  t.throws(() => placePartitions({ topic: 'x', partitions: 1, replicationFactor: 3, brokers: [1, 2] }), /replication factor 3 needs 3 live brokers, 2 are live/)
  t.throws(() => placePartitions({ topic: 'x', partitions: 1, replicationFactor: 1, brokers: [] }), /no live broker/)
})

t.test('keys: each kind parses back, anything else is left alone', async (t) => {
  const k = clusterKeys('prod-eu')
  t.same(parseKey(k, k.broker(12)), { kind: 'broker', id: 12 })
  t.same(parseKey(k, k.topic('orders.dlq')), { kind: 'topic', topic: 'orders.dlq' })
  t.same(parseKey(k, k.partition('orders', 7)), { kind: 'partition', topic: 'orders', partition: 7 })
  for (const bad of [`${k.brokers}012`, `${k.brokers}x`, `${k.brokers}99999999`, `${k.topics}a/b`, `${k.topics}..`, `${k.partitions}orders/07`, `${k.partitions}orders`, `${k.partitions}/3`, '/skiff/other/brokers/1']) {
    t.equal(parseKey(k, bad), undefined, bad)
  }
  t.throws(() => clusterKeys('../x'), /cluster name/)
  t.throws(() => clusterKeys(''), /cluster name/)
})

t.test('values: a value of the wrong shape is refused whole', async (t) => {
  t.same(parseBroker('{"host":"10.0.0.1","port":7600,"incarnation":"a","dirId":"d"}'), { host: '10.0.0.1', port: 7600, incarnation: 'a', dirId: 'd' })
  for (const bad of ['', 'null', '[]', '{"host":"h","port":0,"incarnation":"a","dirId":"d"}', '{"host":"h","port":"7600","incarnation":"a","dirId":"d"}', '{"port":1,"incarnation":"a","dirId":"d"}']) {
    t.equal(parseBroker(bad), undefined, bad)
  }
  const topic = { topicId: 'u', partitions: 3, replicationFactor: 1, minInSync: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 1024, createdAt: 5 }
  t.same(parseTopic(JSON.stringify(topic)), topic)
  t.equal(parseTopic(JSON.stringify({ ...topic, partitions: 0 })), undefined)
  t.equal(parseTopic(JSON.stringify({ ...topic, segmentBytes: -1 })), undefined)
  const part = { leader: 1, leaderEpoch: 3, replicas: [1, 2], isr: [{ id: 1, incarnation: 'i' }] }
  t.same(parsePartition(JSON.stringify(part)), part)
  t.equal(parsePartition(JSON.stringify({ ...part, replicas: [] })), undefined)
  t.equal(parsePartition(JSON.stringify({ ...part, isr: [{ id: 1 }] })), undefined)
  t.equal(parsePartition(JSON.stringify({ ...part, leader: 1.5 })), undefined)
  const withDir = { ...part, isr: [{ id: 1, incarnation: 'i', dirId: 'd1' }, { id: 2, incarnation: 'j' }] }
  t.same(parsePartition(JSON.stringify(withDir)), withDir, 'an isr member may name its data directory')
  t.equal(parsePartition(JSON.stringify({ ...part, isr: [{ id: 1, incarnation: 'i', dirId: 7 }] })), undefined, 'a dirId that is not a string')
  t.equal(parsePartition(JSON.stringify({ ...part, isr: [{ id: 1, incarnation: 'i', dirId: '' }] })), undefined, 'an empty dirId')
})
