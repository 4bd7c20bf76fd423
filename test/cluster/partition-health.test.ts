/**
 * Under-replicated and unavailable partitions, as a broker's view of etcd
 * works them out: watch events fed to the view as the watcher delivers them,
 * and what the summary (metrics, panel, /readyz) and METADATA (`skiff
 * cluster status`) then say, with their reasons.
 */
import t from 'tap'
import { ClusterView } from '../../broker/cluster/cluster-view.js'
import { clusterKeys } from '../../broker/cluster/keys.js'
import type { BrokerRecord, PartitionRecord, TopicRecord } from '../../broker/cluster/records.js'
import type { WatchEvent } from '../../broker/cluster/etcd/watcher.js'
import { clusterUnready } from '../../broker/observability/cluster-readiness.js'
import type { ClusterStatus } from '../../broker/observability/broker-view.js'
import { clusterReport } from '../../cli/commands/cluster.js'
import { isClusterMetadata, MAX_PLACEMENT_REASON } from '../../protocol/frames/metadata.js'

const keys = clusterKeys('test')
const SELF = 1

const broker = (id: number, incarnation = `inc-${id}`): BrokerRecord => ({ host: '10.0.0.' + id, port: 7600, incarnation, dirId: `dir-${id}` })
const topic = (partitions: number, minInSync = 1, replicationFactor = 3): TopicRecord => ({
  topicId: 'tid',
  partitions,
  replicationFactor,
  minInSync,
  retentionMs: 0,
  retentionBytes: 0,
  segmentBytes: 1 << 20,
  createdAt: 1,
})
/** A partition led by `leader`, its in-sync members in their first incarnation unless named otherwise. */
const part = (leader: number, replicas: number[], isr: (number | [number, string])[]): PartitionRecord => ({
  leader,
  leaderEpoch: 1,
  replicas,
  isr: isr.map((m) => (Array.isArray(m) ? { id: m[0], incarnation: m[1] } : { id: m, incarnation: `inc-${m}` })),
})

/** A view of broker 1 after a resync holding `kvs`, and helpers to change it as the watch would. */
function viewWith(kvs: [string, unknown][]) {
  const view = new ClusterView(keys, SELF)
  let revision = 1
  const kv = (key: string, value: unknown) => ({ key, value: JSON.stringify(value), createRevision: revision, modRevision: revision++, version: 1, lease: '0' })
  view.apply({ type: 'resync', kvs: kvs.map(([k, v]) => kv(k, v)), revision: revision++ })
  const put = (key: string, value: unknown) => view.apply({ type: 'put', key, value: JSON.stringify(value), modRevision: revision++ } satisfies WatchEvent)
  const del = (key: string) => view.apply({ type: 'delete', key, value: '', modRevision: revision++ })
  return { view, put, del }
}

const threeBrokers: [string, unknown][] = [1, 2, 3].map((id) => [keys.broker(id), broker(id)])

t.test('a partition with every replica live and in sync is not listed', async (t) => {
  const { view } = viewWith([...threeBrokers, [keys.topic('orders'), topic(2)], [keys.partition('orders', 0), part(1, [1, 2, 3], [1, 2, 3])], [keys.partition('orders', 1), part(2, [2, 3, 1], [2, 3, 1])]])
  const s = view.summary()
  t.same({ unavailable: s.unavailable, under: s.underReplicatedCount, leaderless: s.leaderless, listed: s.underReplicated, leading: s.leading }, { unavailable: 0, under: 0, leaderless: [], listed: [], leading: 1 })
  const md = view.metadata('test', ['orders'])
  t.same(md.topics[0]!.partitions[0], { partition: 0, leader: 1, leaderEpoch: 1, replicas: [1, 2, 3], isr: [1, 2, 3] }, 'METADATA carries no reason for a healthy partition')
})

t.test('each way a replica falls short is named, and the view follows every change', async (t) => {
  const { view, put, del } = viewWith([...threeBrokers, [keys.topic('orders'), topic(1)], [keys.partition('orders', 0), part(1, [1, 2, 3], [1, 2])]])
  t.same(view.summary().underReplicated, [{ topic: 'orders', partition: 0, leader: 1, replicas: [1, 2, 3], isr: [1, 2], reason: 'broker 3 out of sync' }], 'a live replica outside the in-sync set')
  t.equal(view.summary().underReplicatedCount, 1)

  put(keys.partition('orders', 0), part(1, [1, 2, 3], [1, 2, 3]))
  t.equal(view.summary().underReplicatedCount, 0, 'taken back in: healthy again')

  del(keys.broker(3))
  t.equal(view.summary().underReplicated[0]?.reason, 'broker 3 not live', 'an in-sync member whose broker key is gone')

  put(keys.broker(3), broker(3, 'inc-3-second'))
  t.equal(view.summary().underReplicated[0]?.reason, 'broker 3 restarted, catching up', 'back under a new incarnation, still in the set as the old one')

  put(keys.partition('orders', 0), part(1, [1, 2, 3], [1, 2, [3, 'inc-3-second']]))
  t.equal(view.summary().underReplicatedCount, 0, 'the set names the new incarnation: healthy')

  put(keys.partition('orders', 0), part(1, [1, 2, 3], [1]))
  del(keys.broker(3))
  t.equal(view.summary().underReplicated[0]?.reason, 'broker 2 out of sync; broker 3 not live', 'every replica that falls short, in replica order')
  t.same(view.metadata('test', ['orders']).topics[0]!.partitions[0]!.underReplicated, 'broker 2 out of sync; broker 3 not live', 'METADATA carries the same reason')
})

t.test('a restarted leader is not under-replicated on its own account', async (t) => {
  // A one-copy partition (part 1 placement): nothing rewrites its in-sync set after its broker restarts.
  const { view } = viewWith([[keys.broker(1), broker(1, 'inc-1-second')], [keys.topic('logs'), topic(1, 1, 1)], [keys.partition('logs', 0), part(1, [1], [1])]])
  t.equal(view.summary().underReplicatedCount, 0)
  t.equal(view.summary().unavailable, 0)
})

t.test('a partition without a live leader is unavailable, with whether an in-sync replica could take over', async (t) => {
  const { view, del } = viewWith([
    ...threeBrokers,
    [keys.topic('orders'), topic(3)],
    [keys.partition('orders', 0), part(2, [2, 3, 1], [2, 3, 1])],
    [keys.partition('orders', 1), part(2, [2], [2])],
    [keys.partition('orders', 2), part(3, [3, 1, 2], [3, 1, 2])],
  ])
  del(keys.broker(2))
  const s = view.summary()
  t.same(s.leaderless, [
    { topic: 'orders', partition: 0, leader: 2, reason: 'leader 2 not live' },
    { topic: 'orders', partition: 1, leader: 2, reason: 'leader 2 not live, no in-sync replica live' },
  ])
  t.equal(s.unavailable, 2)
  t.same(
    s.underReplicated.map((u) => [u.partition, u.reason]),
    [[2, 'broker 2 not live']],
    'a leaderless partition is not counted again as under-replicated; a led one missing broker 2 is',
  )
  const md = view.metadata('test', ['orders']).topics[0]!.partitions
  t.same(
    md.map((p) => [p.unavailable, p.underReplicated]),
    [
      ['leader 2 not live', undefined],
      ['leader 2 not live, no in-sync replica live', undefined],
      [undefined, 'broker 2 not live'],
    ],
  )
  // A topic whose partition key is not there (yet): counted, without a leader.
  const partial = viewWith([...threeBrokers, [keys.topic('new'), topic(1)]]).view
  t.same(partial.summary().leaderless, [{ topic: 'new', partition: 0, reason: 'no placement yet' }])
})

t.test('the lists are bounded and ordered; the counts are whole', async (t) => {
  const kvs: [string, unknown][] = [...threeBrokers, [keys.topic('b'), topic(80)], [keys.topic('a'), topic(70)]]
  for (let p = 0; p < 80; p++) kvs.push([keys.partition('b', p), part(2, [2, 3], [2])])
  for (let p = 0; p < 70; p++) kvs.push([keys.partition('a', p), part(9, [9], [9])])
  const { view } = viewWith(kvs)
  const s = view.summary()
  t.equal(s.underReplicatedCount, 80)
  t.equal(s.underReplicated.length, 80)
  t.equal(s.unavailable, 70)
  t.same(s.leaderless.map((l) => l.partition), [...Array(70).keys()], 'topic a first, its partitions in order')
  const many = viewWith([...threeBrokers, [keys.topic('c'), topic(250)], ...[...Array(250).keys()].map((p): [string, unknown] => [keys.partition('c', p), part(1, [1, 2], [1])])]).view
  t.equal(many.summary().underReplicatedCount, 250)
  t.equal(many.summary().underReplicated.length, 100, 'the first 100 listed')
  t.equal(many.summary().underReplicated[99]!.partition, 99)
})

t.test('partitions led here below their topic minInSync make the broker unready, with the reason', async (t) => {
  const { view, put } = viewWith([
    ...threeBrokers,
    [keys.topic('orders'), topic(3, 2)],
    [keys.topic('orders.dlq'), topic(3, 2)],
    [keys.partition('orders', 0), part(1, [1, 2, 3], [1, 2])],
    [keys.partition('orders', 1), part(2, [2, 3, 1], [2])],
    [keys.partition('orders', 2), part(3, [3, 1, 2], [3, 1, 2])],
  ])
  const status = (): ClusterStatus => ({ brokerId: 1, cluster: 'test', registered: true, ...view.summary(), replication: { elections: 0, isrShrinks: 0, isrExpands: 0, handovers: 0 } })
  t.equal(status().belowMinInSyncCount, 0, "partition 1 is below, but broker 2 leads it: not this broker's readiness")
  t.equal(clusterUnready(status()), undefined)

  put(keys.partition('orders', 0), part(1, [1, 2, 3], [1]))
  t.same(status().belowMinInSync, [{ topic: 'orders', partition: 0, isr: 1, minInSync: 2 }], 'the dead-letter topic, in the same unit, is not listed twice')
  t.equal(clusterUnready(status()), '1 partition led here below minInSync: orders/0 has 1 in-sync of minInSync 2')
  t.equal(clusterUnready({ ...status(), registered: false }), 'not registered in the cluster')
  t.equal(clusterUnready(undefined), undefined, 'a single broker: nothing of the cluster to wait for')
})

t.test('cluster status lists what METADATA says, and works out what an older broker does not say', async (t) => {
  const md = {
    clusterId: 'test',
    revision: 9,
    brokers: [1, 2].map((id) => ({ id, host: 'h', port: 1 })),
    topics: [
      {
        topic: 'orders',
        partitions: [
          { partition: 0, leader: 1, leaderEpoch: 1, replicas: [1, 2], isr: [1, 2], underReplicated: 'broker 2 restarted, catching up' },
          { partition: 1, leader: 2, leaderEpoch: 1, replicas: [2, 3], isr: [2, 3] },
          { partition: 2, leader: 1, leaderEpoch: 1, replicas: [1, 2], isr: [1] },
          { partition: 3, leader: 3, leaderEpoch: 1, replicas: [3], isr: [3] },
          { partition: 4, leader: 1, leaderEpoch: 1, replicas: [1, 2], isr: [1, 2] },
        ],
      },
    ],
  }
  const r = clusterReport(md)
  t.same(
    r.underReplicated.map((u) => [u.partition, u.reason]),
    [
      [0, 'broker 2 restarted, catching up'],
      [1, 'broker 3 not live'],
      [2, 'broker 2 out of sync'],
    ],
  )
  t.same(r.unavailable, [{ topic: 'orders', partition: 3, leader: 3, reason: 'leader 3 not live' }])
  t.same([...r.leading], [[1, 3], [2, 1]])
})

t.test('a client checks the reasons METADATA carries before it shows them', async (t) => {
  const md = (extra: Record<string, unknown>) => ({ clusterId: 'c', revision: 1, brokers: [], topics: [{ topic: 'o', partitions: [{ partition: 0, leader: 1, leaderEpoch: 1, replicas: [1], isr: [1], ...extra }] }] })
  t.ok(isClusterMetadata(md({})), 'no reason: a healthy partition')
  t.ok(isClusterMetadata(md({ underReplicated: 'broker 3 out of sync' })))
  t.ok(isClusterMetadata(md({ unavailable: 'leader 1 not live' })))
  t.notOk(isClusterMetadata(md({ underReplicated: 3 })), 'a reason that is not text')
  t.notOk(isClusterMetadata(md({ unavailable: 'x'.repeat(MAX_PLACEMENT_REASON + 1) })), 'a reason longer than any broker writes')
})
