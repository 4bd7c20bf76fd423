/**
 * This broker as a member of a cluster (CLUSTER.md).
 *
 * At start it registers (membership.ts), lists and watches every key of the
 * cluster (etcd/watcher.ts into cluster-view.ts), and adds the topics the
 * cluster has to its own table and disk (TopicRegistry.learn). From then on:
 * - topic creation on this broker goes through etcd first: the topic and its
 *   partition keys in one transaction that only succeeds while the topic key
 *   is absent, so racing creators agree on one placement; deleting a topic,
 *   changing its retention and adding partitions are transactions too
 *   (cluster-topic-writes.ts);
 * - a publish or subscribe for a partition this broker does not lead is
 *   refused with NOT_LEADER (naming the leader and its address) when its
 *   leader is live, PARTITION_UNAVAILABLE when it is not (a replicated
 *   partition gets a new leader by election, replicator.ts; a single-copy one
 *   waits for its broker to come back);
 * - METADATA is answered from the view;
 * - replicated partitions are copied, confirmed below the high watermark,
 *   and moved between their replicas by the replicator (replicator.ts).
 *
 * Serving, and the lease. A partition with one copy can never be given to
 * another broker (nothing moves it), so its leader goes on serving it while
 * etcd is unreachable: producers and consumers of existing partitions carry
 * on through an etcd outage, and only what needs etcd (creating topics)
 * fails, with a retriable error. A replicated partition is served only while
 * the lease holds, with a second to spare (CLUSTER.md): past that, another
 * broker may be elected, and this one cannot tell.
 */
import { randomUUID } from 'node:crypto'
import { SkiffError } from '../../protocol/errors.js'
import { isDeadLetterTopic, originTopicOf } from '../../protocol/names.js'
import type { ClusterMetadata } from '../../protocol/frames/metadata.js'
import type { TopicConfig } from '../thread-messages.js'
import type { BrokerConfig } from '../config.js'
import type { ClusterStatus } from '../observability/broker-view.js'
import { EtcdClient } from './etcd/client.js'
import { PrefixWatcher, type WatchEvent } from './etcd/watcher.js'
import { clusterKeys, type ClusterKeys } from './keys.js'
import { ClusterView, type ViewChange } from './cluster-view.js'
import { Membership } from './membership.js'
import { ClusterTopicWrites } from './cluster-topic-writes.js'
import { topicConfigOf, type PartitionRecord, type TopicRecord } from './records.js'
import type { ReplicationRequest } from './replication-settings.js'
import { etcdEndpoints } from './config-check.js'
import { parseAdvertise } from '../config.js'
import { ReplicationStats } from './replication-stats.js'
import { Replicator, replicated } from './replicator.js'
import { leaderIsLive } from './replica-roles.js'
import type { WorkerPool } from '../gateway/pool.js'
import type { PeerLink } from './peer-link.js'

type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void

/**
 * This broker's own copies of the cluster's topics, kept in line with the
 * view (gateway/cluster-topics.ts): write a topic it learns, replacing an
 * older topic of the same name it still holds, or take its new retention;
 * remove one the cluster deleted; after a full read of etcd, see which of
 * its topics the cluster no longer has.
 */
export interface ClusterTopicSink {
  learn(config: TopicConfig): Promise<unknown>
  deleted(topic: string): void
  resynced(topics: ReadonlySet<string>): void
  /** Resolves once every change of `topic` queued so far is applied here. */
  settled(topic: string): Promise<void>
  /**
   * Whether this broker may give `topic`'s partitions a replica role: its
   * copy is the cluster's topic made at `createdAt` or not written yet, not
   * an older topic's of that name nor one being removed (the roles would
   * open its partitions).
   */
  current(topic: string, createdAt: number): boolean
  /** Whether the data dir has a copy of the partition (a move off this broker while it was down leaves one). */
  holdsCopy(topic: string, partition: number): boolean
  /** Partitions led here until now are led elsewhere (none: nothing to do): their subscribers here are told (gateway/leadership-notices.ts). */
  leadershipLost(lost: readonly { topic: string; partition: number }[]): void
}

export interface ClusterNodeOptions {
  config: BrokerConfig
  /** The port this broker listens on, read when it registers (start): known once it listens, port 0 picks one. */
  port: () => number
  dirId: string
  topics: ClusterTopicSink
  log: Log
}

/** How long a creator waits for its own watch to show the topic it wrote. */
const SEE_OWN_WRITE_MS = 5000
/** How long the start waits for etcd's first answer. */
const START_TIMEOUT_MS = 15_000

export class ClusterNode {
  readonly brokerId: number
  readonly clusterId: string
  readonly keys: ClusterKeys
  readonly view: ClusterView
  readonly incarnation = randomUUID()
  readonly replication = new ReplicationStats()
  private readonly client: EtcdClient
  private readonly membership: Membership
  private watcher: PrefixWatcher | undefined
  /** True once the view holds the whole cluster (the watch's first snapshot is in). */
  joined = false
  private markJoined!: () => void
  /**
   * Resolves once joined. The broker listens before it joins (its port goes
   * into its registration): a publish or subscribe that arrives meanwhile
   * waits for this rather than being refused, so a client reconnecting to a
   * restarted broker is not sent into a retry that could reorder its batches.
   */
  readonly whenJoined = new Promise<void>((resolve) => (this.markJoined = resolve))
  private readonly seen: { revision: number; resolve: () => void }[] = []
  /** Replicated partitions: roles, fetchers, in-sync sets, elections (replicator.ts). */
  readonly replicator: Replicator
  private links: ((id: number) => PeerLink | undefined) | undefined
  /** Changes to the cluster's topics made from this broker (cluster-topic-writes.ts). */
  private readonly writes: ClusterTopicWrites

  constructor(private readonly opts: ClusterNodeOptions) {
    const { config } = opts
    this.brokerId = config.brokerId
    this.clusterId = config.clusterName
    this.keys = clusterKeys(config.clusterName)
    this.client = new EtcdClient({ endpoints: etcdEndpoints(config.cluster) })
    this.view = new ClusterView(
      this.keys,
      this.brokerId,
      (change) => this.changed(change),
      (key, revision) => opts.log('warn', 'cluster key with a value that does not parse: taken as absent', { key, revision }),
    )
    const advertised = parseAdvertise(config.advertise)
    this.membership = new Membership({
      client: this.client,
      keys: this.keys,
      brokerId: this.brokerId,
      record: () => ({ ...(advertised ?? { host: config.host, port: opts.port() }), incarnation: this.incarnation, dirId: opts.dirId }),
      leaseTtlSeconds: 3,
      log: opts.log,
    })
    this.replicator = new Replicator({
      self: { id: this.brokerId, incarnation: this.incarnation, dirId: opts.dirId },
      view: this.view,
      keys: this.keys,
      client: this.client,
      stats: this.replication,
      // A broker stops acting as a leader a second before its lease could lapse (CLUSTER.md).
      holdsLease: () => this.membership.holds(1000),
      replicaLagMs: config.replicaLagMs,
      // The copy's write, once done, calls changed() again (learn below).
      localCopyCurrent: (topic, createdAt) => opts.topics.current(topic, createdAt),
      holdsCopy: (topic, partition) => opts.topics.holdsCopy(topic, partition),
      leadershipLost: (lost) => opts.topics.leadershipLost(lost),
      log: (level, msg, fields) => opts.log(level, msg, fields),
    })
    this.writes = new ClusterTopicWrites({
      client: this.client,
      keys: this.keys,
      view: this.view,
      self: { id: this.brokerId, incarnation: this.incarnation, dirId: opts.dirId },
      holdsLease: () => this.membership.holds(0),
      caughtUp: (revision) => this.caughtUp(revision),
      settled: (topic) => opts.topics.settled(topic),
      log: opts.log,
    })
  }

  /** Start replicating: the workers and the links to the other brokers are there now. */
  startReplication(pool: WorkerPool, links: (id: number) => PeerLink | undefined): void {
    this.links = links
    this.replicator.start(pool, links)
  }

  /** The link to live broker `id` (undefined before replication started, or when it is not live). */
  linkTo(id: number): PeerLink | undefined {
    return this.links?.(id)
  }

  /** Register, then wait until the view holds the whole cluster; throws when etcd cannot be reached in time. */
  async start(): Promise<void> {
    const timeout = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new Error(`etcd did not answer within ${START_TIMEOUT_MS / 1000} s (${etcdEndpoints(this.opts.config.cluster).join(', ')})`)), START_TIMEOUT_MS)
      t.unref()
    })
    await Promise.race([this.membership.register(), timeout])
    const synced = new Promise<void>((resolve) => {
      this.watcher = new PrefixWatcher(this.client, this.keys.prefix, {
        onEvent: (ev: WatchEvent) => {
          this.view.apply(ev)
          if (ev.type === 'resync') {
            this.joined = true
            this.markJoined()
            resolve()
          }
          this.wakeSeen()
        },
        onError: (err) => this.opts.log('warn', 'cluster watch interrupted: resuming', { err: (err as Error).message }),
      })
    })
    await Promise.race([synced, timeout])
  }

  private changed(change: ViewChange): void {
    this.replicator.changed()
    if (change.kind === 'resync') {
      for (const [topic, record] of this.view.topics) this.learn(topic, record)
      this.opts.topics.resynced(new Set(this.view.topics.keys()))
      return
    }
    if (change.kind === 'topic' && change.record) this.learn(change.topic, change.record)
    if (change.kind === 'topic' && !change.record) this.opts.topics.deleted(change.topic)
    if (change.kind === 'broker') this.opts.log('info', change.record ? 'broker joined the cluster' : 'broker left the cluster', { broker: change.id, ...(change.record ? { host: change.record.host, port: change.record.port } : {}) })
  }

  private learn(topic: string, record: TopicRecord): void {
    const config = topicConfigOf(topic, record)
    this.opts.topics.learn(config).then(() => this.replicator.changed()).catch((err: unknown) => {
      this.opts.log('error', 'topic of the cluster not written to this broker', { topic, err: (err as Error).message })
    })
  }

  /** Resolves once the view has caught up with `revision` (or after SEE_OWN_WRITE_MS). */
  private caughtUp(revision: number): Promise<void> {
    if (this.view.revision >= revision) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const entry = { revision, resolve }
      this.seen.push(entry)
      setTimeout(resolve, SEE_OWN_WRITE_MS).unref()
    })
  }

  private wakeSeen(): void {
    for (let i = this.seen.length - 1; i >= 0; i--) {
      if (this.seen[i]!.revision > this.view.revision) continue
      this.seen[i]!.resolve()
      this.seen.splice(i, 1)
    }
  }

  /**
   * Why this broker must not serve `topic`/`partition` now (an error to
   * answer with), or undefined when it may.
   */
  refusal(topic: string, partition: number): SkiffError | undefined {
    const p = this.view.partition(topic, partition)
    const t = this.view.topics.get(isDeadLetterTopic(topic) ? originTopicOf(topic) : topic)
    if (p && t && replicated(t, p)) return this.replicatedRefusal(topic, partition, p)
    if (p?.leader === this.brokerId) return undefined
    if (!p) return new SkiffError('PARTITION_UNAVAILABLE', `${topic}/${partition} has no placement in the cluster yet`, { details: { topic, partition } })
    return this.notHere(topic, partition, p)
  }

  /**
   * A replicated partition is served by its leader only while the leader is
   * live in the incarnation its in-sync entry names and its lease holds,
   * with a second to spare (the worker checks the role again on the data
   * path: safety never rests on this).
   */
  private replicatedRefusal(topic: string, partition: number, p: PartitionRecord): SkiffError | undefined {
    const live = leaderIsLive(p, this.view.brokers)
    if (live && p.leader === this.brokerId) {
      if (this.membership.holds(1000)) return undefined
      return new SkiffError('PARTITION_UNAVAILABLE', `broker ${this.brokerId} leads ${topic}/${partition} but its registration in etcd is about to lapse`, { details: { topic, partition, leader: p.leader } })
    }
    if (!live) return new SkiffError('PARTITION_UNAVAILABLE', `${topic}/${partition} has no live leader (broker ${p.leader} is gone): an election is under way`, { details: { topic, partition, leader: p.leader } })
    return this.notHere(topic, partition, p)
  }

  private notHere(topic: string, partition: number, p: PartitionRecord): SkiffError {
    const leader = this.view.brokers.get(p.leader)
    if (!leader) {
      return new SkiffError('PARTITION_UNAVAILABLE', `${topic}/${partition} is led by broker ${p.leader}, which is not live`, { details: { topic, partition, leader: p.leader } })
    }
    return new SkiffError('NOT_LEADER', `broker ${this.brokerId} does not lead ${topic}/${partition}: broker ${p.leader} at ${leader.host}:${leader.port} does`, {
      details: { topic, partition, leader: p.leader, leaderEpoch: p.leaderEpoch, host: leader.host, port: leader.port },
    })
  }

  /** Whether this broker is one of the partition's replicas (a dead-letter partition's are its origin's). */
  holdsCopy(topic: string, partition: number): boolean {
    return this.view.partition(topic, partition)?.replicas.includes(this.brokerId) ?? false
  }

  /** The partitions of `topic` this broker leads, in order (worked out once per change of the view). */
  ledHere(topic: string, partitions: number): readonly number[] {
    return this.view.ledHere(topic, partitions)
  }

  /**
   * What the panel, /readyz and the metrics show of the cluster: whether this
   * broker's registration holds, the live brokers, the partitions it leads,
   * the partitions of the cluster that are unavailable or under-replicated
   * (worked out once per change of the view), and the replication counters.
   */
  status(): ClusterStatus {
    const { elections, isrShrinks, isrExpands, handovers, moves } = this.replication
    return {
      brokerId: this.brokerId,
      cluster: this.clusterId,
      registered: this.membership.holds(0) && this.view.brokers.has(this.brokerId),
      ...this.view.summary(),
      replication: { elections, isrShrinks, isrExpands, handovers, moves },
    }
  }

  metadata(topics: Iterable<string>): ClusterMetadata {
    return this.view.metadata(this.clusterId, topics)
  }

  /** Make a topic exist in the cluster (cluster-topic-writes.ts create). */
  create(config: TopicConfig, requested: ReplicationRequest = {}): Promise<{ config: TopicConfig; created: boolean }> {
    return this.writes.create(config, requested)
  }

  /** Delete a topic and its dead-letter chain from the cluster (cluster-topic-writes.ts). */
  deleteTopic(topic: string): Promise<void> {
    return this.writes.deleteTopic(topic)
  }

  /** Change a topic's retention in the cluster (cluster-topic-writes.ts). */
  alterTopic(topic: string, change: { retentionMs?: number | undefined; retentionBytes?: number | undefined }): Promise<TopicConfig> {
    return this.writes.alterTopic(topic, change)
  }

  /** Add partitions to a topic in the cluster (cluster-topic-writes.ts). */
  addPartitions(topic: string, partitions: number): Promise<TopicConfig> {
    return this.writes.addPartitions(topic, partitions)
  }

  /** Resolves once this broker's copy of `topic` has every change its view has seen (cluster-topics.ts). */
  topicSettled(topic: string): Promise<void> {
    return this.opts.topics.settled(topic)
  }

  async stop(): Promise<void> {
    // Leadership of replicated partitions moves before the registration goes (a rolling restart waits for no election).
    if (this.joined) await this.replicator.handOver(2000).catch(() => undefined)
    this.replicator.stop()
    this.watcher?.close()
    await this.membership.stop().catch(() => {})
    this.client.close()
  }
}
