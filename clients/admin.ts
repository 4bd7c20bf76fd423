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
  partitionInfo: PartitionInfo[]
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
