/**
 * What admin requests do to one partition, on its owning worker: delete or
 * reset a consumer group, purge the log, take a new topic config. Kept apart
 * from partition.ts (delivery's hot path); each works on the partition's
 * cursors and its group saver.
 */
import type { ResetTarget } from '../../protocol/index.js'
import type { TopicConfig } from '../thread-messages.js'
import { GroupCursor } from './group-cursor.js'
import type { Partition } from './partition.js'
import { startPosition } from './partition-views.js'

export interface ResetOutcome {
  partition: number
  /** The committed offset before (every offset below it was settled). */
  from: number
  /** The new position: the next offset delivered, everything below it counts as settled. */
  to: number
}

/**
 * Remove the group's state here: its cursor (with any members: the gateway
 * has ended their subscriptions already) and its files. Waits for a save of
 * the group in flight, which would otherwise land after the delete and bring
 * it back. False when the group had no state here.
 */
export async function deleteGroup(p: Partition, group: string, only?: GroupCursor): Promise<boolean> {
  await p.saver.savingOf(group)?.catch(() => {})
  const c = p.cursors.get(group)
  if (c?.ephemeral) return false
  // A follower dropping a group the leader deleted (replication.ts): not one made again meanwhile.
  if (only && c !== only) return false
  p.saver.remove(group)
  if (!c) return false
  c.releaseMembers()
  p.cursors.delete(group)
  p.replica?.groupsChanged()
  return true
}

/**
 * Move the group to `to`: a new cursor there (nothing in flight, nothing
 * waiting for redelivery), saved durably before this resolves (GroupSaver's
 * create, as for a new group at SUBSCRIBE). Its members, if the reset was
 * forced, stay and lose their in-flight messages: their later acks of those
 * are stale and ignored, and delivery goes on from the new position. A
 * partition where the group has no state yet (one added after it was made)
 * gets it when `create` is set; otherwise null.
 */
export async function resetGroup(p: Partition, group: string, to: ResetTarget, value: number | undefined, dryRun: boolean, create: boolean): Promise<ResetOutcome | null> {
  if (!dryRun) await p.saver.savingOf(group)?.catch(() => {})
  const old = p.cursors.get(group)
  if (old?.ephemeral || (!old && !create)) return null
  const target = startPosition(p.log, to, value)
  const outcome = { partition: p.partition, from: old ? old.floor : target, to: target }
  if (dryRun) return outcome
  const fresh = new GroupCursor(group, target)
  p.saver.create(fresh) // throws (STORAGE_FULL, ...) before anything changes
  for (const m of old?.releaseMembers() ?? []) fresh.addMember(m)
  p.cursors.set(group, fresh)
  p.needsPump = true
  p.replica?.groupsChanged()
  return outcome
}

/** Drop every record; groups below the new start move up to it (and are saved on the next round). */
export function purge(p: Partition): { partition: number; startOffset: number; purged: number } {
  const purged = p.log.purge()
  const start = p.log.startOffset
  for (const c of p.cursors.values()) c.truncateTo(start)
  p.needsPump = true
  return { partition: p.partition, startOffset: start, purged }
}

/** A new config for an open partition: the retention limits apply from the next retention check. */
export function reconfigure(p: Partition, config: TopicConfig): void {
  p.config = config
  p.log.setRetention(config.retentionMs, config.retentionBytes)
}

/** Groups that start on a partition new to their topic, at its beginning, saved durably (as at SUBSCRIBE). */
export function startGroups(p: Partition, groups: readonly string[]): void {
  for (const g of groups) {
    if (p.cursors.has(g)) continue
    const c = new GroupCursor(g, p.log.startOffset)
    p.saver.create(c)
    p.cursors.set(g, c)
  }
}
