/**
 * What observability (the panel, its overview, the connection gauges) reads
 * of the running broker, and the changes the panel may ask of it. Declared
 * here and implemented by the gateway (gateway/broker-view.ts), which
 * startBroker hands in: the dependency runs one way, the gateway imports
 * observability's metrics and observability imports nothing of the gateway.
 */
import type { SkiffError } from '../../protocol/index.js'
import type { ResetTarget } from '../../protocol/index.js'
import type { Authenticator } from '../auth/authenticator.js'
import type { BrokerConfig } from '../config.js'
import type { Logger } from '../logger.js'
import type { ResultFor, ToWorker, TopicConfig } from '../thread-messages.js'
import type { ReplicationStats } from '../cluster/replication-stats.js'

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** A question for the worker that owns one partition: a thread op naming topic and partition, without its reply id. */
export type PartitionQuestion = DistributiveOmit<Extract<ToWorker, { id: number; topic: string; partition: number }>, 'id'>

/** What the panel shows of a client connection, and the one thing it may do to it. */
export interface PanelConnection {
  readonly id: number
  readonly clientName: string
  readonly user: { readonly user: string } | undefined
  readonly socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined }
  readonly subs: { readonly size: number }
  readonly served: { readonly size: number }
  /** Send a final ERROR and close. */
  fail(err: SkiffError): void
}

/** A partition with fewer live, in-sync copies than replicas (cluster/partition-health.ts says why). */
export interface UnderReplicatedPartition {
  topic: string
  partition: number
  leader: number
  replicas: number[]
  /** Broker ids of the in-sync set as etcd has it. */
  isr: number[]
  reason: string
}

/** A partition without a live leader; `leader` is absent when it has no placement yet. */
export interface LeaderlessPartition {
  topic: string
  partition: number
  leader?: number
  reason: string
}

/** A partition this broker leads whose in-sync set is smaller than its topic's minInSync. */
export interface BelowMinInSync {
  topic: string
  partition: number
  isr: number
  minInSync: number
}

/** How many of each list a status carries: the counts are always whole. */
export const MAX_LISTED_PARTITIONS = 100

/** This broker in its cluster (cluster/cluster-node.ts), for the panel, /readyz and the metrics. */
export interface ClusterStatus {
  brokerId: number
  cluster: string
  /** Its registration in etcd holds now (lease alive, key seen). */
  registered: boolean
  /** The live brokers. */
  brokers: { id: number; host: string; port: number }[]
  /** Partitions this broker leads. */
  leading: number
  /** Partitions of the cluster without a live leader. */
  unavailable: number
  /** The first MAX_LISTED_PARTITIONS of them (topic, then partition order), with the reason. */
  leaderless: LeaderlessPartition[]
  /** Partitions of the cluster with a live leader and fewer live, in-sync copies than replicas. */
  underReplicatedCount: number
  /** The first MAX_LISTED_PARTITIONS of them, with the reason. */
  underReplicated: UnderReplicatedPartition[]
  /** Partitions of the cluster moving to other brokers (TOPIC_ALTER moves; a topic's dead-letter partitions move with it, uncounted). */
  moving: number
  /** Partitions this broker leads below their topic's minInSync: /readyz is 503 while there is one. */
  belowMinInSyncCount: number
  /** The first MAX_LISTED_PARTITIONS of them. */
  belowMinInSync: BelowMinInSync[]
  /** What this broker's replication counted since it started (cluster/replication-stats.ts). */
  replication: { elections: number; isrShrinks: number; isrExpands: number; handovers: number; moves: number }
}

export interface BrokerView {
  readonly config: BrokerConfig
  readonly logger: Logger
  readonly auth: Authenticator
  /** True once shutdown began. */
  readonly draining: boolean
  readonly connections: ReadonlyMap<number, PanelConnection>
  readonly topics: {
    get(topic: string): TopicConfig | undefined
    list(): TopicConfig[]
    /** The topic, auto-created (within maxTopics) as a PUBLISH would. */
    ensure(topic: string, forSubscribe: boolean): Promise<TopicConfig>
  }
  /** This broker in its cluster; undefined for a single broker. */
  cluster(): ClusterStatus | undefined
  /** The replicas this broker holds and its replication counters; undefined for a single broker. */
  replication(): ReplicationStats | undefined
  /** Worker threads in the pool. */
  readonly workers: number
  /**
   * The partitions of `t` this broker may publish to: every one on a single
   * broker, those it leads in a cluster (the others are written on their
   * leader, and a partition this broker holds no copy of must not be made here).
   */
  writable(t: TopicConfig): readonly number[]
  /** In a cluster, why this broker may not publish to the partition (NOT_LEADER naming its leader, PARTITION_UNAVAILABLE); undefined when it may. */
  refusal(topic: string, partition: number): SkiffError | undefined
  /** Whether this broker holds a copy of the partition (always on a single broker; in a cluster, when it is one of its replicas). */
  holds(topic: string, partition: number): boolean
  /** Ask the owner of `q.partition` of `q.topic`. */
  ask<Q extends PartitionQuestion>(q: Q): Promise<ResultFor<Q>>
  /** The same question of every partition of `t`, the answers in partition order. */
  perPartition<Q extends PartitionQuestion>(t: TopicConfig, question: (partition: number) => Q): Promise<ResultFor<Q>[]>
  /** TOPIC_PURGE, GROUP_DELETE and GROUP_RESET, run by the same code as over the protocol; the caller checked access. */
  purgeTopic(t: TopicConfig): Promise<unknown>
  deleteGroup(t: TopicConfig, group: string, force: boolean): Promise<unknown>
  resetGroup(t: TopicConfig, req: { group: string; force: boolean; to: ResetTarget; value?: number }): Promise<unknown>
}
