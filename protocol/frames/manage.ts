/**
 * Requests that change groups and topics after their creation, client ->
 * broker, each answered by OK { corr, result } or ERROR. All need the admin
 * permission (see broker/auth/guard.ts).
 *
 * GROUP_DELETE (0x36)  corr, topic, group, force?(false), forwarded?(false)
 *                      result: { topic, group, partitions, endedSubscriptions }
 *                      GROUP_IN_USE while members are subscribed, unless force:
 *                      then their subscriptions end with an ERROR UNKNOWN_GROUP
 *                      naming the subscription (details.sub).
 * GROUP_RESET (0x37)   corr, topic, group, to ("earliest" | "latest" | "offset" | "timestamp"),
 *                      value? (the offset or ms timestamp, required for those two),
 *                      partition? (only that one; default every partition),
 *                      force?(false), dryRun?(false), forwarded?(false)
 *                      result: { topic, group, dryRun, partitions: [{ partition, from, to }] }
 *                      (from: the committed offset before, to: the new position)
 *
 * `forwarded` (GROUP_DELETE, GROUP_RESET, TOPIC_PURGE, and GROUP_LIST and GROUP_DESCRIBE in admin.ts; cluster mode):
 * broker -> peer broker only. The broker a client asked checked its
 * permission and asks each partition's leader for its share: the receiver
 * acts on the partitions it leads (GROUP_RESET: the one named in `partition`,
 * NOT_LEADER when it does not lead it) and never forwards again. Accepted
 * only from a broker's connection (FORBIDDEN otherwise). Omitted by clients.
 * TOPIC_PURGE (0x38)   corr, topic, forwarded?(false)
 *                      result: { topic, partitions: [{ partition, startOffset, purged }] }
 *                      In a cluster each partition's leader purges it and answers
 *                      once every in-sync replica has dropped the records too.
 * TOPIC_ALTER (0x39)   corr, topic, retentionMs?, retentionBytes?, partitions?,
 *                      moves? ([{ partition, replicas: [broker ids] }], cluster mode:
 *                      each partition's replicas become those brokers; answered once
 *                      each move is under way: describe shows `movingTo` until it ends),
 *                      forwarded?(false; with moves: asked of the partitions' leader)
 *                      result: the topic's description (see TOPIC_DESCRIBE)
 */
import { Op } from '../opcodes.js'
import { SkiffError } from '../errors.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { MAX_NAME_FIELD } from './limits.js'
import { MAX_PARTITIONS } from './admin.js'
import { MAX_BROKER_ID } from './metadata.js'

/** Moves one TOPIC_ALTER may ask for, and brokers a partition may be moved to. */
export const MAX_MOVES = 128
export const MAX_MOVE_REPLICAS = 64

export interface GroupDelete {
  corr: number
  topic: string
  group: string
  force?: boolean | undefined
  forwarded?: boolean | undefined
}

export const RESET_TARGETS = ['earliest', 'latest', 'offset', 'timestamp'] as const
export type ResetTarget = (typeof RESET_TARGETS)[number]

export interface GroupReset {
  corr: number
  topic: string
  group: string
  to: ResetTarget
  value?: number | undefined
  partition?: number | undefined
  force?: boolean | undefined
  dryRun?: boolean | undefined
  forwarded?: boolean | undefined
}

export interface TopicPurge {
  corr: number
  topic: string
  forwarded?: boolean | undefined
}

export interface TopicAlter {
  corr: number
  topic: string
  retentionMs?: number | undefined
  retentionBytes?: number | undefined
  partitions?: number | undefined
  /** Cluster mode: the brokers each of these partitions moves to (its new replica set). */
  moves?: PartitionMove[] | undefined
  forwarded?: boolean | undefined
}

export interface PartitionMove {
  partition: number
  replicas: number[]
}

/** Only what is set, and booleans only when true (their default is false). */
function compact(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== false))
}

export function encodeGroupDelete(g: GroupDelete): Buffer {
  return encodeFrame(Op.GROUP_DELETE, compact(g))
}

export function decodeGroupDelete(body: Buffer): GroupDelete {
  const f = new Fields('GROUP_DELETE', body)
  const out: GroupDelete = { corr: f.uint('corr'), topic: f.str('topic', MAX_NAME_FIELD), group: f.str('group', MAX_NAME_FIELD) }
  if (f.bool('force', false)) out.force = true
  if (f.bool('forwarded', false)) out.forwarded = true
  return out
}

export function encodeGroupReset(g: GroupReset): Buffer {
  return encodeFrame(Op.GROUP_RESET, compact(g))
}

export function decodeGroupReset(body: Buffer): GroupReset {
  const f = new Fields('GROUP_RESET', body)
  const to = f.oneOf('to', RESET_TARGETS)
  const out: GroupReset = { corr: f.uint('corr'), topic: f.str('topic', MAX_NAME_FIELD), group: f.str('group', MAX_NAME_FIELD), to }
  if (to === 'offset' || to === 'timestamp') out.value = f.uint('value')
  const partition = f.optUint('partition', MAX_PARTITIONS - 1)
  if (partition !== undefined) out.partition = partition
  if (f.bool('force', false)) out.force = true
  if (f.bool('dryRun', false)) out.dryRun = true
  if (f.bool('forwarded', false)) out.forwarded = true
  return out
}

export function encodeTopicPurge(t: TopicPurge): Buffer {
  return encodeFrame(Op.TOPIC_PURGE, compact(t))
}

export function decodeTopicPurge(body: Buffer): TopicPurge {
  const f = new Fields('TOPIC_PURGE', body)
  const out: TopicPurge = { corr: f.uint('corr'), topic: f.str('topic', MAX_NAME_FIELD) }
  if (f.bool('forwarded', false)) out.forwarded = true
  return out
}

export function encodeTopicAlter(t: TopicAlter): Buffer {
  return encodeFrame(Op.TOPIC_ALTER, compact(t))
}

export function decodeTopicAlter(body: Buffer): TopicAlter {
  const f = new Fields('TOPIC_ALTER', body)
  const out: TopicAlter = { corr: f.uint('corr'), topic: f.str('topic', MAX_NAME_FIELD) }
  const retentionMs = f.optUint('retentionMs')
  const retentionBytes = f.optUint('retentionBytes')
  const partitions = f.optUint('partitions', MAX_PARTITIONS)
  if (retentionMs !== undefined) out.retentionMs = retentionMs
  if (retentionBytes !== undefined) out.retentionBytes = retentionBytes
  if (partitions !== undefined) out.partitions = partitions
  const moves = decodeMoves(f)
  if (moves !== undefined) out.moves = moves
  if (f.bool('forwarded', false)) out.forwarded = true
  return out
}

/** TOPIC_ALTER.moves: distinct partitions, each to 1..MAX_MOVE_REPLICAS distinct broker ids. */
function decodeMoves(f: Fields): PartitionMove[] | undefined {
  if (!f.has('moves')) return undefined
  const v = f.raw('moves')
  const bad = (want: string) => new SkiffError('INVALID_REQUEST', `TOPIC_ALTER.moves must be ${want}`)
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_MOVES) throw bad(`an array of 1 to ${MAX_MOVES} moves`)
  const seen = new Set<number>()
  return v.map((m: unknown) => {
    const o = m as { partition?: unknown; replicas?: unknown } | null
    const partition = o?.partition
    const replicas = o?.replicas
    if (o === null || typeof o !== 'object' || !isUint(partition, MAX_PARTITIONS - 1)) throw bad(`maps with a partition in 0..${MAX_PARTITIONS - 1}`)
    if (seen.has(partition)) throw bad(`maps of distinct partitions: ${partition} is named twice`)
    seen.add(partition)
    if (!Array.isArray(replicas) || replicas.length === 0 || replicas.length > MAX_MOVE_REPLICAS || !replicas.every((id) => isUint(id, MAX_BROKER_ID))) {
      throw bad(`maps whose replicas are 1 to ${MAX_MOVE_REPLICAS} broker ids in 0..${MAX_BROKER_ID}`)
    }
    if (new Set(replicas).size !== replicas.length) throw bad(`maps whose replicas are distinct: partition ${partition} names a broker twice`)
    return { partition, replicas: replicas as number[] }
  })
}

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
}
