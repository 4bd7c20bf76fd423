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
 * TOPIC_ALTER (0x39)   corr, topic, retentionMs?, retentionBytes?, partitions?
 *                      result: the topic's description (see TOPIC_DESCRIBE)
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { MAX_NAME_FIELD } from './limits.js'
import { MAX_PARTITIONS } from './admin.js'

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
  return out
}
