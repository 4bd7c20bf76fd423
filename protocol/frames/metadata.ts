/**
 * METADATA (0x3a), client -> broker: which broker leads each partition, and
 * where each broker is. Answered by OK { corr, result }. Any broker answers,
 * from what it knows now (in a cluster: its watch of the coordination store),
 * so a client can ask whichever seed it reached first. A single broker
 * answers with itself as the leader of every partition, so one client code
 * path serves one broker and a cluster alike.
 *
 *   corr    uint
 *   topics  string[]?  only these topics; absent: every topic the user may
 *                      publish to, subscribe to or describe
 *
 * result:
 *   clusterId  string   the cluster (a single broker: the id of its data directory)
 *   revision   uint     how recent the answer is: a larger one is newer (0 for a single broker)
 *   brokers    [{ id, host, port }]   the live brokers and the address each
 *                       advertises (a single broker without --advertise: the
 *                       address this connection reached)
 *   topics     [{ topic, partitions: [{ partition, leader, leaderEpoch,
 *                 replicas, isr, unavailable?, underReplicated?, movingTo? }] }]
 *              `unavailable` (no live leader) and `underReplicated` (a live
 *              leader, fewer live in-sync copies than replicas) are present
 *              only when so, each a reason naming the brokers; `movingTo`
 *              only while the partition moves to those brokers (TOPIC_ALTER)
 * A topic named in `topics` that does not exist, or that the user may not
 * use, is left out: not an error, as with TOPIC_LIST. A partition whose
 * `leader` is not among `brokers` has no live leader: sends to it wait and
 * retry (PARTITION_UNAVAILABLE).
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { MAX_NAME_FIELD } from './limits.js'

/** Most topics one METADATA may name. */
export const MAX_METADATA_TOPICS = 1000
/** Broker ids are small integers an operator picks (--broker-id). */
export const MAX_BROKER_ID = 0xffff
export const MAX_CLUSTER_ID = 128

export interface MetadataRequest {
  corr: number
  topics?: string[] | undefined
}

/** A live broker and the address clients reach it at. */
export interface BrokerInfo {
  id: number
  host: string
  port: number
}

/** Where one partition lives. */
export interface PartitionPlacement {
  partition: number
  /** The broker that takes its publishes and serves its subscriptions. */
  leader: number
  /** Grows by one at every change of leader. */
  leaderEpoch: number
  /** The brokers that hold a copy. */
  replicas: number[]
  /** The replicas that are caught up with the leader. */
  isr: number[]
  /** Present when the partition has no live leader: why ("leader 2 not live"). */
  unavailable?: string
  /** Present when it has a live leader but fewer live, in-sync copies than replicas: why ("broker 3 out of sync"). */
  underReplicated?: string
  /** Present while the partition moves (TOPIC_ALTER moves): the brokers it moves to; `replicas` holds them and the old ones until it is done. */
  movingTo?: number[]
}

export interface TopicPlacement {
  topic: string
  partitions: PartitionPlacement[]
}

/** What METADATA answers. */
export interface ClusterMetadata {
  clusterId: string
  revision: number
  brokers: BrokerInfo[]
  topics: TopicPlacement[]
}

export function encodeMetadataRequest(r: MetadataRequest): Buffer {
  return encodeFrame(Op.METADATA, r.topics === undefined ? { corr: r.corr } : { corr: r.corr, topics: r.topics })
}

export function decodeMetadataRequest(body: Buffer): MetadataRequest {
  const f = new Fields('METADATA', body)
  const topics = f.optStrArray('topics', MAX_METADATA_TOPICS, MAX_NAME_FIELD)
  return topics === undefined ? { corr: f.uint('corr') } : { corr: f.uint('corr'), topics }
}

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
const isString = (v: unknown, max: number): boolean => typeof v === 'string' && v.length <= max
const isIdList = (v: unknown): boolean => Array.isArray(v) && v.length <= 64 && v.every((x) => isUint(x, MAX_BROKER_ID))

/** Longest reason a partition's placement may carry (one clause per replica, at most 64 replicas). */
export const MAX_PLACEMENT_REASON = 4096
const isReason = (v: unknown): boolean => v === undefined || isString(v, MAX_PLACEMENT_REASON)

function isPartitionPlacement(v: unknown): boolean {
  return isObject(v) && isUint(v.partition) && isUint(v.leader, MAX_BROKER_ID) && isUint(v.leaderEpoch) && isIdList(v.replicas) && isIdList(v.isr) && isReason(v.unavailable) && isReason(v.underReplicated) && (v.movingTo === undefined || isIdList(v.movingTo))
}

/**
 * Whether the `result` of METADATA's OK has the shape above: a client checks
 * it before routing by it, so a broker of another build (or a bug) is a clear
 * error, never a half-read map that routes publishes nowhere.
 */
export function isClusterMetadata(v: unknown): v is ClusterMetadata {
  if (!isObject(v) || !isString(v.clusterId, MAX_CLUSTER_ID) || !isUint(v.revision)) return false
  if (!Array.isArray(v.brokers) || !v.brokers.every((b) => isObject(b) && isUint(b.id, MAX_BROKER_ID) && isString(b.host, 255) && isUint(b.port, 65535))) return false
  return Array.isArray(v.topics) && v.topics.every((t) => isObject(t) && isString(t.topic, MAX_NAME_FIELD) && Array.isArray(t.partitions) && t.partitions.every(isPartitionPlacement))
}
