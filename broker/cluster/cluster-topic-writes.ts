/**
 * A cluster's topics as etcd holds them, changed from this broker: creating
 * a topic (its partitions placed on the live brokers), deleting one with its
 * dead-letter chain, changing its retention, adding partitions. Each change
 * is one etcd transaction (or, for a topic too large for one, chunks with
 * the topic key last), guarded by a compare so that two brokers changing
 * the same topic never both win; each resolves once this broker's own view,
 * and its copy of the topic, have the change. Every other broker applies it
 * as its watch sees the keys change (gateway/cluster-topics.ts).
 */
import { randomUUID } from 'node:crypto'
import { SkiffError } from '../../protocol/errors.js'
import { deadLetterTopicOf, isDeadLetterTopic, originTopicOf } from '../../protocol/names.js'
import type { TopicConfig } from '../thread-messages.js'
import type { EtcdClient } from './etcd/client.js'
import type { Op } from './etcd/txn.js'
import type { ClusterKeys } from './keys.js'
import type { ClusterView } from './cluster-view.js'
import { placePartitions } from './placement.js'
import { parseTopic, topicConfigOf, type IsrMember, type PartitionRecord, type TopicRecord } from './records.js'
import { clusterReplication, type ReplicationRequest } from './replication-settings.js'

/** etcd caps one transaction at 128 operations. */
const MAX_TXN_OPS = 128

type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void

export interface TopicWritesOptions {
  client: EtcdClient
  keys: ClusterKeys
  view: ClusterView
  /** This broker, as it registers. */
  self: { id: number; incarnation: string; dirId: string }
  /** Whether this broker's registration holds (it counts as live before its own watch shows it). */
  holdsLease: () => boolean
  /** Resolves once this broker's view has caught up with `revision`. */
  caughtUp: (revision: number) => Promise<void>
  /** Resolves once this broker's copy of `topic` has every change its view has seen. */
  settled: (topic: string) => Promise<void>
  log: Log
}

export class ClusterTopicWrites {
  constructor(private readonly opts: TopicWritesOptions) {}

  /**
   * Make a topic exist in the cluster. Resolves with the topic as the cluster
   * has it, and whether this call created it (false: someone created it
   * first, maybe with other settings). etcd unreachable: TIMEOUT, retriable.
   * `requested` is TOPIC_CREATE's replicationFactor and minInSync, defaulted
   * and checked against the live brokers (replication-settings.ts); a
   * dead-letter topic takes its origin's, as its partitions live with the
   * origin's.
   */
  async create(config: TopicConfig, requested: ReplicationRequest = {}): Promise<{ config: TopicConfig; created: boolean }> {
    const known = this.opts.view.topics.get(config.topic)
    if (known) return { config: topicConfigOf(config.topic, known), created: false }
    const live = [...this.opts.view.brokers.keys()]
    if (!live.includes(this.opts.self.id) && this.opts.holdsLease()) live.push(this.opts.self.id)
    const dead = isDeadLetterTopic(config.topic)
    const origin = dead ? this.opts.view.topics.get(originTopicOf(config.topic)) : undefined
    const { replicationFactor, minInSync } = origin ?? clusterReplication(config.topic, requested, live.length)
    const record: TopicRecord = {
      topicId: randomUUID(),
      partitions: config.partitions,
      replicationFactor,
      minInSync,
      retentionMs: config.retentionMs,
      retentionBytes: config.retentionBytes,
      segmentBytes: config.segmentBytes,
      createdAt: config.createdAt,
    }
    // A dead-letter topic's partitions live with its origin's: only its settings are written.
    const partitionOps: Op[] = dead ? [] : this.placementOps(config.topic, 0, config.partitions, replicationFactor, live)
    const topicKey = this.opts.keys.topic(config.topic)
    const absent = { key: topicKey, target: 'createRevision' as const, op: '==' as const, value: 0 }
    try {
      // Large topics go in chunks, the topic key last: a reader sees the topic only once every partition is there.
      for (let i = 0; i < partitionOps.length; i += MAX_TXN_OPS - 1) {
        if (partitionOps.length + 1 <= MAX_TXN_OPS) break
        const res = await this.opts.client.txn({ compare: [absent], success: partitionOps.slice(i, i + MAX_TXN_OPS - 1) })
        if (!res.succeeded) return await this.existing(config.topic)
      }
      const last = partitionOps.length + 1 <= MAX_TXN_OPS ? partitionOps : []
      const res = await this.opts.client.txn({ compare: [absent], success: [...last, { type: 'put', key: topicKey, value: JSON.stringify(record) }] })
      if (!res.succeeded) return await this.existing(config.topic)
      await this.opts.caughtUp(res.revision)
    } catch (err) {
      if (err instanceof SkiffError) throw err
      throw new SkiffError('TIMEOUT', `topic ${config.topic} was not created: the cluster's etcd did not answer (${(err as Error).message}); try again`, { details: { topic: config.topic } })
    }
    this.opts.log('info', 'topic created in the cluster', { topic: config.topic, partitions: config.partitions, replicationFactor, minInSync })
    return { config: topicConfigOf(config.topic, record), created: true }
  }

  /**
   * The keys of new partitions `first` to `first + count - 1` (a new topic's,
   * or those added to one): `replicationFactor` distinct live brokers each
   * (placement.ts), all of them in the in-sync set from the start (nothing
   * has been written yet, so every replica is caught up), each with the
   * incarnation and data directory it is live with now.
   */
  private placementOps(topic: string, first: number, count: number, replicationFactor: number, live: number[]): Op[] {
    let placed: number[][]
    try {
      placed = placePartitions({ topic, partitions: count, replicationFactor, brokers: live, leading: this.opts.view.leading() })
    } catch (err) {
      throw new SkiffError('PARTITION_UNAVAILABLE', `partitions of topic ${topic} were not placed: ${(err as Error).message}`, { details: { topic } })
    }
    const member = (id: number): IsrMember => {
      const broker = this.opts.view.brokers.get(id)
      const dirId = id === this.opts.self.id ? this.opts.self.dirId : broker?.dirId
      return { id, incarnation: broker?.incarnation ?? (id === this.opts.self.id ? this.opts.self.incarnation : ''), ...(dirId !== undefined && { dirId }) }
    }
    return placed.map((replicas, i) => {
      const value: PartitionRecord = { leader: replicas[0]!, leaderEpoch: 1, replicas, isr: replicas.map(member) }
      return { type: 'put', key: this.opts.keys.partition(topic, first + i), value: JSON.stringify(value) }
    })
  }

  /**
   * Delete `topic` from the cluster: its key, its partitions' keys and its
   * dead-letter chain's keys, in one transaction (a reader never sees part
   * of it gone). Every broker removes its copies when its watch sees the
   * keys go (topics.deleted); this resolves once this broker's are gone. A `.dlq` topic named on its own loses only
   * its key and its own chain's: its partitions live in its origin's keys.
   * UNKNOWN_TOPIC when the cluster does not have it; TIMEOUT (retriable)
   * when etcd does not answer.
   */
  async deleteTopic(topic: string): Promise<void> {
    if (!this.opts.view.topics.has(topic)) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist in the cluster`, { details: { topic } })
    const chain: string[] = []
    for (let t = topic; this.opts.view.topics.has(t); t = deadLetterTopicOf(t)) chain.push(t)
    const topicKey = this.opts.keys.topic(topic)
    const ops: Op[] = isDeadLetterTopic(topic) ? [] : [{ type: 'delete', key: this.opts.keys.partitionsOf(topic), prefix: true }]
    for (const t of chain) ops.push({ type: 'delete', key: this.opts.keys.topic(t) })
    let res
    try {
      res = await this.opts.client.txn({ compare: [{ key: topicKey, target: 'createRevision', op: '>', value: 0 }], success: ops })
    } catch (err) {
      throw new SkiffError('TIMEOUT', `topic ${topic} was not deleted: the cluster's etcd did not answer (${(err as Error).message}); try again`, { details: { topic } })
    }
    if (!res.succeeded) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist in the cluster`, { details: { topic } })
    await this.opts.caughtUp(res.revision)
    await this.opts.settled(topic)
    this.opts.log('info', 'topic deleted from the cluster', { topic, with: chain.slice(1) })
  }

  /**
   * Change a topic's retention in the cluster: its key is rewritten by CAS
   * (read, compare its mod revision, write; again when another change came
   * in between), and every broker applies the new settings to its copies as
   * its watch sees the key change (topics.learn). Returns the topic as the
   * cluster now has it, once this broker's copies have it. UNKNOWN_TOPIC, or TIMEOUT (retriable) when etcd
   * does not answer or keeps changing under it.
   */
  async alterTopic(topic: string, change: { retentionMs?: number | undefined; retentionBytes?: number | undefined }): Promise<TopicConfig> {
    const next = await this.rewriteTopic(topic, (record) => ({
      record: { ...record, retentionMs: change.retentionMs ?? record.retentionMs, retentionBytes: change.retentionBytes ?? record.retentionBytes },
      ops: [],
    }))
    this.opts.log('info', 'topic altered in the cluster', { topic, retentionMs: next.retentionMs, retentionBytes: next.retentionBytes })
    return next
  }

  /**
   * Add partitions to a topic in the cluster (TOPIC_ALTER's `partitions`):
   * the new partitions' keys, placed on the live brokers as a new topic's
   * are, and the topic's new count, for it and its dead-letter chain (whose
   * partitions live with the origin's), in one transaction that compares the
   * topic key's mod revision: a reader sees all of it or none. Returns the
   * topic as the cluster now has it, once this broker's copy has it.
   * INVALID_REQUEST for fewer partitions, or more at once than one
   * transaction holds; PARTITION_UNAVAILABLE with fewer live brokers than
   * the replication factor; UNKNOWN_TOPIC; TIMEOUT (retriable).
   */
  async addPartitions(topic: string, partitions: number): Promise<TopicConfig> {
    const chain: string[] = []
    for (let t = deadLetterTopicOf(topic); this.opts.view.topics.has(t); t = deadLetterTopicOf(t)) chain.push(t)
    const next = await this.rewriteTopic(topic, (record) => {
      if (partitions < record.partitions) {
        throw new SkiffError('INVALID_REQUEST', `topic ${topic} has ${record.partitions} partitions: partitions can only be added, not removed (asked for ${partitions})`, {
          details: { topic, partitions: record.partitions, requested: partitions },
        })
      }
      const added = partitions - record.partitions
      if (added + chain.length + 1 > MAX_TXN_OPS) {
        throw new SkiffError('INVALID_REQUEST', `a cluster adds at most ${MAX_TXN_OPS - chain.length - 1} partitions to ${topic} at a time (asked for ${added}): add them in steps`, { details: { topic } })
      }
      const live = [...this.opts.view.brokers.keys()]
      const ops = added === 0 ? [] : this.placementOps(topic, record.partitions, added, record.replicationFactor, live)
      for (const t of chain) {
        const r = this.opts.view.topics.get(t)
        if (r) ops.push({ type: 'put', key: this.opts.keys.topic(t), value: JSON.stringify({ ...r, partitions }) })
      }
      return { record: { ...record, partitions }, ops }
    })
    this.opts.log('info', 'partitions added in the cluster', { topic, partitions })
    return next
  }

  /**
   * Rewrite a topic's key by CAS (read, compare its mod revision, write with
   * `change`'s other ops; again when another change came in between), and
   * wait until this broker's copy has it (topics.learn).
   */
  private async rewriteTopic(topic: string, change: (record: TopicRecord) => { record: TopicRecord; ops: Op[] }): Promise<TopicConfig> {
    const key = this.opts.keys.topic(topic)
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const kv = (await this.opts.client.get(key)).kvs[0]
        const record = kv && parseTopic(kv.value)
        if (!kv || !record) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist in the cluster`, { details: { topic } })
        const next = change(record)
        const res = await this.opts.client.txn({ compare: [{ key, target: 'modRevision', op: '==', value: kv.modRevision }], success: [...next.ops, { type: 'put', key, value: JSON.stringify(next.record) }] })
        if (!res.succeeded) continue
        await this.opts.caughtUp(res.revision)
        await this.opts.settled(topic)
        return topicConfigOf(topic, next.record)
      }
    } catch (err) {
      if (err instanceof SkiffError) throw err
      throw new SkiffError('TIMEOUT', `topic ${topic} was not altered: the cluster's etcd did not answer (${(err as Error).message}); try again`, { details: { topic } })
    }
    throw new SkiffError('TIMEOUT', `topic ${topic} was not altered: its settings kept changing meanwhile; try again`, { details: { topic } })
  }

  private async existing(topic: string): Promise<{ config: TopicConfig; created: boolean }> {
    const got = await this.opts.client.get(this.opts.keys.topic(topic))
    await this.opts.caughtUp(got.revision)
    const record = this.opts.view.topics.get(topic)
    if (!record) throw new SkiffError('TIMEOUT', `topic ${topic} is being created elsewhere in the cluster; try again`, { details: { topic } })
    return { config: topicConfigOf(topic, record), created: false }
  }
}
