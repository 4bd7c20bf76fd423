/**
 * Admin requests: topics and consumer groups. Each is one request answered by
 * OK { result } (shapes from protocol/frames/admin.ts) or an ERROR, raised as
 * SkiffError (UNKNOWN_TOPIC, TOPIC_EXISTS, UNKNOWN_GROUP, ...).
 */
import {
  Op,
  SkiffError,
  checkName,
  decodeOk,
  encodeGroupDescribe,
  encodeGroupList,
  encodeTopicCreate,
  encodeTopicList,
  encodeTopicRef,
  encodeGroupDelete,
  encodeGroupReset,
  encodeTopicAlter,
  encodeTopicPurge,
  encodeMetadataRequest,
  isClusterMetadata,
  type ClusterMetadata,
  type PartitionPlacement,
  type ResetTarget,
} from '../protocol/index.js'
import type { ConnectionSource } from './link.js'

/** Options of {@link Admin.createTopic}. */
export interface TopicOptions {
  /** Default 1. Fixed at creation. */
  partitions?: number
  /** Delete segments older than this; 0 or absent keeps forever. */
  retentionMs?: number
  /** Keep at most about this many bytes per partition; 0 or absent keeps all. */
  retentionBytes?: number
  /** Size of each segment file. Default: the broker's. */
  segmentBytes?: number
  /**
   * Copies of each partition, on distinct brokers (1-64). Default in a
   * cluster: 3, or the number of live brokers when fewer. A single broker
   * takes only 1. More than the live brokers is PARTITION_UNAVAILABLE.
   */
  replicationFactor?: number
  /**
   * How many copies must hold a publish before it is confirmed (1 to
   * replicationFactor). Default: 2, or 1 when replicationFactor is 1.
   */
  minInSync?: number
}

/** A damaged stretch of a partition log that recovery skipped. */
export interface CorruptRange {
  fromOffset: number
  toOffset: number
  position: number
  reason: string
}

/** One partition of a topic, as described by the broker. */
export interface PartitionInfo {
  partition: number
  startOffset: number
  endOffset: number
  bytes: number
  segments: number
  corrupt: CorruptRange[]
}

/** A topic: its settings and its partitions. */
export interface TopicDescription {
  topic: string
  partitions: number
  retentionMs: number
  retentionBytes: number
  segmentBytes: number
  /** Copies of each partition (1 on a single broker). Absent from brokers that predate it. */
  replicationFactor?: number
  /** Copies that must hold a publish before it is confirmed (1 on a single broker). Absent from brokers that predate it. */
  minInSync?: number
  /** Offsets and sizes of every partition; in a cluster, each as its leader has it (a partition whose leader cannot be asked now is left out). */
  partitionInfo: PartitionInfo[]
  /** In a cluster: every partition's leader, replicas and in-sync replicas, and `movingTo` while it moves ({@link AlterTopicOptions.moves}). */
  placement?: PartitionPlacement[]
}

/** A topic in {@link Admin.listTopics}. */
export interface TopicSummary {
  topic: string
  partitions: number
}

/** A consumer group in {@link Admin.listGroups}. */
export interface GroupSummary {
  topic: string
  group: string
}

/** A group's position in one partition: committed floor, next offset to deliver, end of the log, lag and messages in flight. */
export interface GroupPartition {
  partition: number
  committed: number
  next: number
  endOffset: number
  lag: number
  inFlight: number
}

/** A consumer group: its members and its position per partition. */
export interface GroupDescription {
  topic: string
  group: string
  members: number
  partitions: GroupPartition[]
}

/** Options of {@link Admin.deleteGroup}. */
export interface DeleteGroupOptions {
  /** Delete even while members are subscribed: their subscriptions end with UNKNOWN_GROUP. Without it such a delete fails with GROUP_IN_USE. */
  force?: boolean
}

/** Where {@link Admin.resetGroup} moves a group: the first message kept, the end of the log, an offset, or the first message at or after a time. */
export type ResetTo = 'earliest' | 'latest' | { offset: number } | { timestamp: number | Date }

/** Options of {@link Admin.resetGroup}. */
export interface ResetGroupOptions {
  /** Only this partition (default: every partition). */
  partition?: number
  /** Reset even while members are subscribed: their in-flight messages are dropped and delivery goes on from the new position. Without it such a reset fails with GROUP_IN_USE. */
  force?: boolean
  /** Only say where each partition would move; change nothing. */
  dryRun?: boolean
}

/** One partition of a reset: the committed offset before (`from`) and the new position (`to`). */
export interface ResetPartition {
  partition: number
  from: number
  to: number
}

/** What {@link Admin.resetGroup} did (or, with dryRun, would do). */
export interface GroupResetResult {
  topic: string
  group: string
  dryRun: boolean
  partitions: ResetPartition[]
}

/** What {@link Admin.deleteGroup} did. */
export interface GroupDeleteResult {
  topic: string
  group: string
  /** Partitions whose state for the group was removed. */
  partitions: number
  /** Subscriptions ended by a forced delete. */
  endedSubscriptions: number
}

/** What {@link Admin.purgeTopic} did, per partition: the new start offset and how many records went. */
export interface TopicPurgeResult {
  topic: string
  partitions: { partition: number; startOffset: number; purged: number }[]
}

/** Options of {@link Admin.alterTopic}; what is absent stays as it is. */
export interface AlterTopicOptions {
  /** Delete segments older than this; 0 keeps forever. */
  retentionMs?: number
  /** Keep at most about this many bytes per partition; 0 keeps all. */
  retentionBytes?: number
  /** The new partition count: only more than now (its `.dlq` topics grow with it). */
  partitions?: number
  /**
   * Cluster mode: move each listed partition to the brokers in `replicas`,
   * its new replica set (as many distinct broker ids as the topic's
   * replicationFactor; at most 128 moves). Resolves once the moves are under
   * way; until each ends, {@link Admin.describeTopic}'s `placement` shows the
   * partition with `movingTo` (the target) and `replicas` holding both the
   * old and the new brokers. A single broker refuses moves with
   * INVALID_REQUEST.
   */
  moves?: { partition: number; replicas: number[] }[]
}

/**
 * Topic and group administration, as `client.admin`. Each call waits for a
 * connection while the client reconnects (within requestTimeoutMs, else
 * TIMEOUT); a call in flight when the connection is lost rejects with
 * CONNECTION_CLOSED (retriable: its outcome is unknown, so check before
 * trying a create or a delete again).
 */
export class Admin {
  /** Use `client.admin`. @internal */
  constructor(private readonly source: ConnectionSource) {}

  /** Create a topic; TOPIC_EXISTS when it exists. Resolves with its description. */
  async createTopic(topic: string, opts: TopicOptions = {}): Promise<TopicDescription> {
    checkName('topic', topic)
    return this.call(`create topic ${topic}`, (corr) => encodeTopicCreate({ corr, topic, ...opts }), isObject)
  }

  /** A topic's settings and, per partition, its offsets, size and corrupt ranges. UNKNOWN_TOPIC when there is none. */
  async describeTopic(topic: string): Promise<TopicDescription> {
    checkName('topic', topic)
    return this.call(`describe topic ${topic}`, (corr) => encodeTopicRef(Op.TOPIC_DESCRIBE, { corr, topic }), isObject)
  }

  /**
   * Which broker leads each partition and where each broker is: of the
   * topics named, or of every topic this user may describe. A single broker
   * answers with itself leading every partition. Topics that do not exist
   * are left out.
   */
  async metadata(topics?: string[]): Promise<ClusterMetadata> {
    if (topics !== undefined) for (const topic of topics) checkName('topic', topic)
    return this.call('metadata', (corr) => encodeMetadataRequest({ corr, topics }), isClusterMetadata)
  }

  /** Every topic with its partition count. */
  async listTopics(): Promise<TopicSummary[]> {
    return this.call('list topics', (corr) => encodeTopicList(corr), Array.isArray)
  }

  /** Delete a topic and all its messages. UNKNOWN_TOPIC when there is none. */
  async deleteTopic(topic: string): Promise<void> {
    checkName('topic', topic)
    await this.call(`delete topic ${topic}`, (corr) => encodeTopicRef(Op.TOPIC_DELETE, { corr, topic }), () => true)
  }

  /** Consumer groups, of every topic or of one. */
  async listGroups(topic?: string): Promise<GroupSummary[]> {
    if (topic !== undefined) checkName('topic', topic)
    return this.call('list groups', (corr) => encodeGroupList({ corr, topic }), Array.isArray)
  }

  /** A group's members and, per partition, its position, lag and messages in flight. UNKNOWN_GROUP when there is none. */
  async describeGroup(topic: string, group: string): Promise<GroupDescription> {
    checkName('topic', topic)
    checkName('group', group)
    return this.call(`describe group ${group} of ${topic}`, (corr) => encodeGroupDescribe({ corr, topic, group }), isObject)
  }

  /** Delete a group's state on every partition. GROUP_IN_USE while members are subscribed, unless `force`; UNKNOWN_GROUP when there is none. */
  async deleteGroup(topic: string, group: string, opts: DeleteGroupOptions = {}): Promise<GroupDeleteResult> {
    checkName('topic', topic)
    checkName('group', group)
    return this.call(`delete group ${group} of ${topic}`, (corr) => encodeGroupDelete({ corr, topic, group, force: opts.force === true }), isObject)
  }

  /**
   * Move a group to `to` on every partition (or `opts.partition`), saved
   * durably before this resolves. GROUP_IN_USE while members are
   * subscribed, unless `force` or `dryRun`; UNKNOWN_GROUP when there is none.
   */
  async resetGroup(topic: string, group: string, to: ResetTo, opts: ResetGroupOptions = {}): Promise<GroupResetResult> {
    checkName('topic', topic)
    checkName('group', group)
    const target = resetTarget(to)
    if (opts.partition !== undefined && (!Number.isSafeInteger(opts.partition) || opts.partition < 0)) {
      throw new SkiffError('INVALID_REQUEST', `partition must be a non-negative integer, got ${opts.partition}`)
    }
    return this.call(
      `reset group ${group} of ${topic}`,
      (corr) => encodeGroupReset({ corr, topic, group, ...target, partition: opts.partition, force: opts.force === true, dryRun: opts.dryRun === true }),
      isObject,
    )
  }

  /** Drop every message of a topic; offsets go on from where they were. Groups behind move up to the new start. */
  async purgeTopic(topic: string): Promise<TopicPurgeResult> {
    checkName('topic', topic)
    return this.call(`purge topic ${topic}`, (corr) => encodeTopicPurge({ corr, topic }), isObject)
  }

  /**
   * Change a topic's retention, add partitions or (in a cluster) move
   * partitions to other brokers. Resolves with its new description: with
   * `moves`, once they are under way (its `placement` shows `movingTo`).
   */
  async alterTopic(topic: string, opts: AlterTopicOptions): Promise<TopicDescription> {
    checkName('topic', topic)
    return this.call(
      `alter topic ${topic}`,
      (corr) => encodeTopicAlter({ corr, topic, retentionMs: opts.retentionMs, retentionBytes: opts.retentionBytes, partitions: opts.partitions, moves: opts.moves }),
      isObject,
    )
  }

  private async call<T>(what: string, build: (corr: number) => Buffer, shapeOk: (v: unknown) => boolean): Promise<T> {
    const timeoutMs = this.source.requestTimeoutMs
    const deadline = Date.now() + timeoutMs
    const conn = await this.source.ready(timeoutMs, what)
    const corr = conn.nextCorr()
    // One budget for both waits: for the connection, then for the answer.
    const answer = await conn.request(corr, build(corr), what, Math.max(1, deadline - Date.now()))
    if (answer.opcode !== Op.OK) throw new SkiffError('BAD_FRAME', `${what}: expected OK, got opcode ${answer.opcode}`)
    const { result } = decodeOk(answer.body)
    if (!shapeOk(result)) throw new SkiffError('BAD_FRAME', `${what}: the broker's result has an unexpected shape`)
    return result as T
  }
}

function isObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function resetTarget(to: ResetTo): { to: ResetTarget; value?: number } {
  if (to === 'earliest' || to === 'latest') return { to }
  if (typeof to === 'object' && to !== null && 'offset' in to) {
    if (!Number.isSafeInteger(to.offset) || to.offset < 0) throw new SkiffError('INVALID_REQUEST', `offset must be a non-negative integer, got ${to.offset}`)
    return { to: 'offset', value: to.offset }
  }
  if (typeof to === 'object' && to !== null && 'timestamp' in to) {
    const ms = to.timestamp instanceof Date ? to.timestamp.getTime() : to.timestamp
    if (!Number.isSafeInteger(ms) || ms < 0) throw new SkiffError('INVALID_REQUEST', `timestamp must be a Date or ms since the epoch, got ${String(to.timestamp)}`)
    return { to: 'timestamp', value: ms }
  }
  throw new SkiffError('INVALID_REQUEST', `reset to must be 'earliest', 'latest', { offset } or { timestamp }, got ${JSON.stringify(to)}`)
}
