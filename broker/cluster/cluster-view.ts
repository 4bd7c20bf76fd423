/**
 * A broker's picture of the cluster: every broker, topic and partition key
 * under the cluster's prefix, as its watch of etcd delivered them
 * (etcd/watcher.ts: a `resync` snapshot, then each change in revision order).
 * METADATA is answered from here, routing decisions are made from here, and
 * the broker's node (cluster-node.ts) learns from `onChange` which
 * partitions it gained or lost.
 *
 * The view is only as fresh as the watch: a broker whose view lags may send
 * a client to an old leader, which answers NOT_LEADER, and the client asks
 * again. Safety never rests on it (CLUSTER.md invariant 3): a broker serves a
 * partition only while its own lease holds (cluster-node.ts).
 *
 * A dead-letter topic has no partition keys: each of its partitions lives
 * with its origin's partition (same leader and epoch).
 */
import { originTopicOf, isDeadLetterTopic } from '../../protocol/names.js'
import type { ClusterMetadata, TopicPlacement } from '../../protocol/frames/metadata.js'
import type { WatchEvent } from './etcd/watcher.js'
import { parseKey, type ClusterKeys } from './keys.js'
import { parseBroker, parsePartition, parseTopic, type BrokerRecord, type PartitionRecord, type TopicRecord } from './records.js'
import { partitionHealth, type PartitionHealth } from './partition-health.js'
import { MAX_LISTED_PARTITIONS, type ClusterStatus } from '../observability/broker-view.js'

/** What one applied event changed, for the node to act on. */
export type ViewChange =
  | { kind: 'resync' }
  | { kind: 'broker'; id: number; record: BrokerRecord | undefined }
  | { kind: 'topic'; topic: string; record: TopicRecord | undefined }
  | { kind: 'partition'; topic: string; partition: number; record: PartitionRecord | undefined }

/** What the metrics, the panel, /readyz and `skiff cluster status` read of the view (ClusterStatus has the field docs). */
export type ViewSummary = Omit<ClusterStatus, 'brokerId' | 'cluster' | 'registered' | 'replication'>

export class ClusterView {
  readonly brokers = new Map<number, BrokerRecord>()
  readonly topics = new Map<string, TopicRecord>()
  /** By `<topic>/<partition>`. */
  private readonly partitions = new Map<string, PartitionRecord>()
  /** Each partition key's mod revision, by `<topic>/<partition>`: what a CAS on it compares (elections, in-sync set changes). */
  private readonly partitionRevisions = new Map<string, number>()
  /** The etcd revision the view is consistent with. */
  revision = 0
  /**
   * The partitions of each topic led by `self`, worked out once per change of
   * the view rather than on every publish (every event clears it).
   */
  private readonly ledBySelf = new Map<string, readonly number[]>()
  /** The live brokers and partition counts the metrics and /readyz read on every scrape, likewise kept until the next event. */
  private summaryOf: ViewSummary | undefined
  /** By `<topic>/<partition>`: the partitions that are unavailable or under-replicated, worked out with the summary (METADATA carries the reasons). */
  private readonly problems = new Map<string, PartitionHealth>()

  constructor(
    private readonly keys: ClusterKeys,
    /** The broker this view belongs to (ledHere). */
    private readonly self: number,
    private readonly onChange: (change: ViewChange) => void = () => {},
    /** Told of a key whose value does not parse (it counts as absent). */
    private readonly onRefused: (key: string, revision: number) => void = () => {},
  ) {}

  apply(ev: WatchEvent): void {
    this.ledBySelf.clear()
    this.summaryOf = undefined
    if (ev.type === 'resync') {
      this.brokers.clear()
      this.topics.clear()
      this.partitions.clear()
      this.partitionRevisions.clear()
      for (const kv of ev.kvs) this.set(kv.key, kv.value, kv.modRevision)
      this.revision = ev.revision
      this.onChange({ kind: 'resync' })
      return
    }
    const change = ev.type === 'put' ? this.set(ev.key, ev.value, ev.modRevision) : this.remove(ev.key)
    this.revision = Math.max(this.revision, ev.modRevision)
    if (change) this.onChange(change)
  }

  private set(key: string, value: string, revision: number): ViewChange | undefined {
    const k = parseKey(this.keys, key)
    if (!k) return undefined
    if (k.kind === 'broker') {
      const record = parseBroker(value)
      if (!record) return this.refuse(key, revision, () => this.brokers.delete(k.id))
      this.brokers.set(k.id, record)
      return { kind: 'broker', id: k.id, record }
    }
    if (k.kind === 'topic') {
      const record = parseTopic(value)
      if (!record) return this.refuse(key, revision, () => this.topics.delete(k.topic))
      this.topics.set(k.topic, record)
      return { kind: 'topic', topic: k.topic, record }
    }
    const record = parsePartition(value)
    if (!record) return this.refuse(key, revision, () => this.partitions.delete(`${k.topic}/${k.partition}`))
    this.partitions.set(`${k.topic}/${k.partition}`, record)
    this.partitionRevisions.set(`${k.topic}/${k.partition}`, revision)
    return { kind: 'partition', topic: k.topic, partition: k.partition, record }
  }

  /** A value that does not parse counts as no value: what was known of the key is forgotten. */
  private refuse(key: string, revision: number, forget: () => void): undefined {
    forget()
    this.onRefused(key, revision)
    return undefined
  }

  private remove(key: string): ViewChange | undefined {
    const k = parseKey(this.keys, key)
    if (!k) return undefined
    if (k.kind === 'broker') {
      this.brokers.delete(k.id)
      return { kind: 'broker', id: k.id, record: undefined }
    }
    if (k.kind === 'topic') {
      this.topics.delete(k.topic)
      return { kind: 'topic', topic: k.topic, record: undefined }
    }
    this.partitions.delete(`${k.topic}/${k.partition}`)
    this.partitionRevisions.delete(`${k.topic}/${k.partition}`)
    return { kind: 'partition', topic: k.topic, partition: k.partition, record: undefined }
  }

  /** Where a partition lives; a dead-letter topic's partition answers as its origin's. */
  partition(topic: string, partition: number): PartitionRecord | undefined {
    const origin = isDeadLetterTopic(topic) ? originTopicOf(topic) : topic
    return this.partitions.get(`${origin}/${partition}`)
  }

  /** The mod revision of a partition's key as this view last saw it (0: no key). */
  partitionRevision(topic: string, partition: number): number {
    return this.partitionRevisions.get(`${topic}/${partition}`) ?? 0
  }

  /** Every partition key, as `[topic, partition, record]`. */
  *allPartitions(): Generator<[string, number, PartitionRecord]> {
    for (const [key, record] of this.partitions) {
      const at = key.lastIndexOf('/')
      yield [key.slice(0, at), Number(key.slice(at + 1)), record]
    }
  }

  /**
   * The live brokers in id order, the partitions this view's broker leads,
   * and the partitions that are unavailable or under-replicated, each with
   * its reason (partition-health.ts). Listed in topic name, then partition
   * order, the first MAX_LISTED_PARTITIONS of each kind; the counts are whole.
   * A dead-letter topic's partitions are counted as a topic of their own, as
   * METADATA lists them, though they share their origin's placement.
   */
  summary(): ViewSummary {
    if (this.summaryOf) return this.summaryOf
    const brokers = [...this.brokers].sort(([a], [b]) => a - b).map(([id, b]) => ({ id, host: b.host, port: b.port }))
    const s: ViewSummary = { brokers, leading: 0, unavailable: 0, leaderless: [], underReplicatedCount: 0, underReplicated: [], moving: 0, belowMinInSyncCount: 0, belowMinInSync: [] }
    this.problems.clear()
    for (const topic of [...this.topics.keys()].sort()) {
      const t = this.topics.get(topic)!
      for (let partition = 0; partition < t.partitions; partition++) {
        const p = this.partition(topic, partition)
        if (p?.leader === this.self) {
          s.leading++
          // minInSync is the origin's: a dead-letter partition lives in its origin's replication unit.
          if (!isDeadLetterTopic(topic) && p.isr.length < t.minInSync && s.belowMinInSyncCount++ < MAX_LISTED_PARTITIONS) {
            s.belowMinInSync.push({ topic, partition, isr: p.isr.length, minInSync: t.minInSync })
          }
        }
        if (p?.target && !isDeadLetterTopic(topic)) s.moving++
        const health = partitionHealth(p, this.brokers)
        if (health.unavailable !== undefined) {
          if (s.unavailable++ < MAX_LISTED_PARTITIONS) s.leaderless.push({ topic, partition, ...(p ? { leader: p.leader } : {}), reason: health.unavailable })
        } else if (health.underReplicated !== undefined && p) {
          if (s.underReplicatedCount++ < MAX_LISTED_PARTITIONS) {
            s.underReplicated.push({ topic, partition, leader: p.leader, replicas: p.replicas, isr: p.isr.map((m) => m.id), reason: health.underReplicated })
          }
        } else continue
        this.problems.set(`${topic}/${partition}`, health)
      }
    }
    return (this.summaryOf = s)
  }

  /** Partitions each live broker leads, for placement (placement.ts). */
  leading(): Map<number, number> {
    const out = new Map<number, number>()
    for (const p of this.partitions.values()) if (this.brokers.has(p.leader)) out.set(p.leader, (out.get(p.leader) ?? 0) + 1)
    return out
  }

  /**
   * The partitions of `topic` (of its `partitions`) this view's broker leads,
   * in order. Shared: callers must not change the array.
   */
  ledHere(topic: string, partitions: number): readonly number[] {
    const known = this.ledBySelf.get(topic)
    if (known) return known
    const led: number[] = []
    for (let p = 0; p < partitions; p++) if (this.partition(topic, p)?.leader === this.self) led.push(p)
    this.ledBySelf.set(topic, led)
    return led
  }

  /**
   * METADATA's answer for `topics` (names that do not exist are left out), as
   * this view has it; a partition that is unavailable or under-replicated
   * carries the reason (partition-health.ts).
   */
  metadata(clusterId: string, topics: Iterable<string>): ClusterMetadata {
    // First: the summary works out the problems read below.
    const { brokers } = this.summary()
    const placements: TopicPlacement[] = []
    for (const topic of topics) {
      const t = this.topics.get(topic)
      if (!t) continue
      const partitions = []
      for (let partition = 0; partition < t.partitions; partition++) {
        const p = this.partition(topic, partition)
        if (!p) continue
        const problem = this.problems.get(`${topic}/${partition}`)
        partitions.push({ partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr.map((m) => m.id), ...problem, ...(p.target && { movingTo: p.target }) })
      }
      placements.push({ topic, partitions })
    }
    return { clusterId, revision: this.revision, brokers, topics: placements }
  }
}
