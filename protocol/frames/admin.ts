/**
 * Admin requests, client -> broker, each answered by OK { corr, result } or ERROR.
 *
 * TOPIC_CREATE (0x30)   corr, topic, partitions?(1), retentionMs?, retentionBytes?, segmentBytes?,
 *                       replicationFactor?, minInSync?  (copies of each partition, and how many
 *                       must hold a publish before it is confirmed: a cluster's defaults are
 *                       min(3, live brokers) and min(2, replicationFactor); a single broker takes only 1)
 *                       result: the topic's description (see TOPIC_DESCRIBE)
 * TOPIC_DESCRIBE (0x31) corr, topic, forwarded?(false: see manage.ts)
 *                       result: { topic, partitions, retentionMs, retentionBytes, segmentBytes,
 *                                 replicationFactor, minInSync,
 *                                 partitionInfo: [{ partition, startOffset, endOffset, bytes,
 *                                 segments, corrupt: [{ fromOffset, toOffset, position, reason }] }],
 *                                 placement?: [{ partition, leader, leaderEpoch, replicas, isr }] }
 *                       (placement in a cluster only, every partition; partitionInfo there
 *                       covers the partitions the answering broker leads)
 * TOPIC_LIST (0x32)     corr             result: [{ topic, partitions }]
 * TOPIC_DELETE (0x33)   corr, topic      result: { topic }
 * GROUP_LIST (0x34)     corr, topic?     result: [{ topic, group }]
 * GROUP_DESCRIBE (0x35) corr, topic, group, forwarded?(false: see manage.ts)
 *                       result: { topic, group, members, partitions: [{ partition, committed,
 *                                 next, endOffset, lag, inFlight }] }
 * Retention 0 (or absent) means "keep forever" for that dimension.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { MAX_NAME_FIELD } from './limits.js'

export interface TopicCreate {
  corr: number
  topic: string
  partitions?: number | undefined
  retentionMs?: number | undefined
  retentionBytes?: number | undefined
  segmentBytes?: number | undefined
  /** Copies of each partition (1-64). */
  replicationFactor?: number | undefined
  /** Copies that must hold a publish before it is confirmed (1-replicationFactor). */
  minInSync?: number | undefined
}

export interface TopicRef {
  corr: number
  topic: string
  /** TOPIC_DESCRIBE only: broker -> peer broker in a cluster (see manage.ts), the facts of the partitions it leads. */
  forwarded?: boolean | undefined
}

export interface GroupList {
  corr: number
  topic?: string | undefined
  /** Broker -> peer broker in a cluster (see manage.ts): the groups of the partitions it leads. */
  forwarded?: boolean | undefined
}

export interface GroupRef {
  corr: number
  topic: string
  group: string
  /** GROUP_DESCRIBE only: broker -> peer broker in a cluster (see manage.ts), the partitions it leads. */
  forwarded?: boolean | undefined
}

export const MAX_PARTITIONS = 1024
/** The largest segment file a TOPIC_CREATE may ask for (1 GiB). */
const MAX_TOPIC_SEGMENT_BYTES = 1024 * 1024 * 1024

function compact(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}

export function encodeTopicCreate(t: TopicCreate): Buffer {
  return encodeFrame(Op.TOPIC_CREATE, compact(t))
}

export function decodeTopicCreate(body: Buffer): TopicCreate {
  const f = new Fields('TOPIC_CREATE', body)
  return {
    corr: f.uint('corr'),
    topic: f.str('topic', MAX_NAME_FIELD),
    partitions: f.optUint('partitions', MAX_PARTITIONS),
    retentionMs: f.optUint('retentionMs'),
    retentionBytes: f.optUint('retentionBytes'),
    segmentBytes: f.optUint('segmentBytes', MAX_TOPIC_SEGMENT_BYTES),
    // Ranges (1-64, minInSync at most replicationFactor) are checked by the broker, with messages that say which.
    replicationFactor: f.optUint('replicationFactor'),
    minInSync: f.optUint('minInSync'),
  }
}

export function encodeTopicRef(op: typeof Op.TOPIC_DESCRIBE | typeof Op.TOPIC_DELETE, t: TopicRef): Buffer {
  return encodeFrame(op, compact(t))
}

export function decodeTopicRef(frame: string, body: Buffer): TopicRef {
  const f = new Fields(frame, body)
  const out: TopicRef = { corr: f.uint('corr'), topic: f.str('topic', MAX_NAME_FIELD) }
  if (f.bool('forwarded', false)) out.forwarded = true
  return out
}

export function encodeTopicList(corr: number): Buffer {
  return encodeFrame(Op.TOPIC_LIST, { corr })
}

export function decodeCorrOnly(frame: string, body: Buffer): { corr: number } {
  return { corr: new Fields(frame, body).uint('corr') }
}

export function encodeGroupList(g: GroupList): Buffer {
  return encodeFrame(Op.GROUP_LIST, compact(g))
}

export function decodeGroupList(body: Buffer): GroupList {
  const f = new Fields('GROUP_LIST', body)
  const out: GroupList = { corr: f.uint('corr'), topic: f.optStr('topic', MAX_NAME_FIELD) }
  if (f.bool('forwarded', false)) out.forwarded = true
  return out
}

export function encodeGroupDescribe(g: GroupRef): Buffer {
  const { forwarded, ...rest } = g
  return encodeFrame(Op.GROUP_DESCRIBE, forwarded ? { ...rest, forwarded } : rest)
}

export function decodeGroupDescribe(body: Buffer): GroupRef {
  const f = new Fields('GROUP_DESCRIBE', body)
  const out: GroupRef = { corr: f.uint('corr'), topic: f.str('topic', MAX_NAME_FIELD), group: f.str('group', MAX_NAME_FIELD) }
  if (f.bool('forwarded', false)) out.forwarded = true
  return out
}
