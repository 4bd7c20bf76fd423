/**
 * The JSON values of the cluster's keys (keys.ts), and their checked
 * parsing. Anything can be written into etcd by hand or by a broker of
 * another build: a value that does not parse is reported and ignored by the
 * reader, never half-used to route messages.
 */
import { MAX_BROKER_ID } from '../../protocol/frames/metadata.js'
import type { TopicConfig } from '../thread-messages.js'

/** `brokers/<id>`: a live broker, bound to its lease. */
export interface BrokerRecord {
  /** The address clients and other brokers reach it at (--advertise). */
  host: string
  port: number
  /** Chosen afresh at each process start: a restarted broker is a new incarnation. */
  incarnation: string
  /** The data directory's id (data-dir-id.ts): a wiped disk comes back as a new one. */
  dirId: string
}

/** `topics/<topic>`: a topic's settings, fixed at creation but for what TOPIC_ALTER changes. */
export interface TopicRecord {
  /** Tells a topic from an earlier one of the same name (deleted and made again). */
  topicId: string
  partitions: number
  replicationFactor: number
  minInSync: number
  retentionMs: number
  retentionBytes: number
  segmentBytes: number
  createdAt: number
}

/** A member of a partition's in-sync set: a broker, in one incarnation. */
export interface IsrMember {
  id: number
  incarnation: string
  /** The data directory it had when it joined the set (absent in keys written before it was recorded). */
  dirId?: string
}

/** `partitions/<topic>/<p>`: where a partition lives. */
export interface PartitionRecord {
  leader: number
  leaderEpoch: number
  replicas: number[]
  isr: IsrMember[]
  /**
   * A move under way (TOPIC_ALTER moves, partition-moves.ts): the replica set
   * the partition is moving to. `replicas` holds these and the old ones
   * until every one of them is in sync; then the leader writes `replicas`
   * as this and drops the field.
   */
  target?: number[]
}

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
const isId = (v: unknown): v is number => isUint(v, MAX_BROKER_ID)
const isText = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max

function object(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text)
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

export function parseBroker(text: string): BrokerRecord | undefined {
  const v = object(text)
  if (!v || !isText(v.host, 255) || !isUint(v.port, 65535) || v.port === 0 || !isText(v.incarnation) || !isText(v.dirId)) return undefined
  return { host: v.host, port: v.port, incarnation: v.incarnation, dirId: v.dirId }
}

export function parseTopic(text: string): TopicRecord | undefined {
  const v = object(text)
  if (!v || !isText(v.topicId) || !isUint(v.partitions) || v.partitions < 1 || !isUint(v.replicationFactor) || v.replicationFactor < 1) return undefined
  if (!isUint(v.minInSync) || !isUint(v.retentionMs) || !isUint(v.retentionBytes) || !isUint(v.segmentBytes) || !isUint(v.createdAt)) return undefined
  const { topicId, partitions, replicationFactor, minInSync, retentionMs, retentionBytes, segmentBytes, createdAt } = v
  return { topicId, partitions, replicationFactor, minInSync, retentionMs, retentionBytes, segmentBytes, createdAt }
}

export function parsePartition(text: string): PartitionRecord | undefined {
  const v = object(text)
  if (!v || !isId(v.leader) || !isUint(v.leaderEpoch) || !Array.isArray(v.replicas) || !Array.isArray(v.isr)) return undefined
  if (v.replicas.length === 0 || v.replicas.length > 64 || !v.replicas.every(isId)) return undefined
  const isr: IsrMember[] = []
  for (const m of v.isr as unknown[]) {
    if (m === null || typeof m !== 'object') return undefined
    const { id, incarnation, dirId } = m as Record<string, unknown>
    if (!isId(id) || !isText(incarnation) || (dirId !== undefined && !isText(dirId))) return undefined
    isr.push(dirId === undefined ? { id, incarnation } : { id, incarnation, dirId })
  }
  const rec: PartitionRecord = { leader: v.leader, leaderEpoch: v.leaderEpoch, replicas: v.replicas as number[], isr }
  if (v.target !== undefined) {
    if (!Array.isArray(v.target) || v.target.length === 0 || v.target.length > 64 || !v.target.every(isId)) return undefined
    rec.target = v.target as number[]
  }
  return rec
}

/** The topic as a broker's storage and workers know it (topic-store.ts). */
export function topicConfigOf(topic: string, r: TopicRecord): TopicConfig {
  return { topic, partitions: r.partitions, retentionMs: r.retentionMs, retentionBytes: r.retentionBytes, segmentBytes: r.segmentBytes, createdAt: r.createdAt }
}
