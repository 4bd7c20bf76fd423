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
import type { ConnectionSource } from './producer.js'

export interface TopicOptions {
  /** Default 1. Fixed at creation. */
  partitions?: number
  /** Delete segments older than this; 0 or absent keeps forever. */
  retentionMs?: number
  /** Keep at most about this many bytes per partition; 0 or absent keeps all. */
  retentionBytes?: number
  segmentBytes?: number
}

export interface CorruptRange {
  fromOffset: number
  toOffset: number
  position: number
  reason: string
}

export interface PartitionInfo {
  partition: number
  startOffset: number
  endOffset: number
  bytes: number
  segments: number
  corrupt: CorruptRange[]
}

export interface TopicDescription {
  topic: string
  partitions: number
  retentionMs: number
  retentionBytes: number
  segmentBytes: number
  partitionInfo: PartitionInfo[]
}

export interface TopicSummary {
  topic: string
  partitions: number
}

export interface GroupSummary {
  topic: string
  group: string
}

export interface GroupPartition {
  partition: number
  committed: number
  next: number
  endOffset: number
  lag: number
  inFlight: number
}

export interface GroupDescription {
  topic: string
  group: string
  members: number
  partitions: GroupPartition[]
}

export class Admin {
  constructor(private readonly source: ConnectionSource) {}

  createTopic(topic: string, opts: TopicOptions = {}): Promise<TopicDescription> {
    return this.call(`create topic ${topic}`, (corr) => {
      checkName('topic', topic)
      return encodeTopicCreate({ corr, topic, ...opts })
    }, isObject)
  }

  describeTopic(topic: string): Promise<TopicDescription> {
    return this.call(`describe topic ${topic}`, (corr) => encodeTopicRef(Op.TOPIC_DESCRIBE, { corr, topic: checkName('topic', topic) }), isObject)
  }

  listTopics(): Promise<TopicSummary[]> {
    return this.call('list topics', (corr) => encodeTopicList(corr), Array.isArray)
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.call(`delete topic ${topic}`, (corr) => encodeTopicRef(Op.TOPIC_DELETE, { corr, topic: checkName('topic', topic) }), () => true)
  }

  listGroups(topic?: string): Promise<GroupSummary[]> {
    return this.call('list groups', (corr) => encodeGroupList({ corr, topic: topic === undefined ? undefined : checkName('topic', topic) }), Array.isArray)
  }

  describeGroup(topic: string, group: string): Promise<GroupDescription> {
    return this.call(`describe group ${group} of ${topic}`, (corr) => encodeGroupDescribe({ corr, topic: checkName('topic', topic), group: checkName('group', group) }), isObject)
  }

  private async call<T>(what: string, build: (corr: number) => Buffer, shapeOk: (v: unknown) => boolean): Promise<T> {
    const conn = this.source.connection
    const corr = conn.nextCorr()
    const answer = await conn.request(corr, build(corr), what)
    if (answer.opcode !== Op.OK) throw new SkiffError('BAD_FRAME', `${what}: expected OK, got opcode ${answer.opcode}`)
    const { result } = decodeOk(answer.body)
    if (!shapeOk(result)) throw new SkiffError('BAD_FRAME', `${what}: the broker's result has an unexpected shape`)
    return result as T
  }
}

function isObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
