/**
 * Retention and purge of a partition log: deleting whole old segments by
 * age and size, and dropping every record at once (TOPIC_PURGE). Functions
 * of the log's state (log-state.ts); PartitionLog's methods of the same
 * names call them.
 *
 * Design decisions:
 * - Only whole segments are deleted, never the active one, oldest first:
 *   batch timestamps never go back (partition-log.ts), so the segments past
 *   their age are a prefix of the log.
 * - Retention by bytes deletes old segments while the partition is over
 *   retentionBytes (never the active segment), so a partition's size stays
 *   within the limit plus at most the active segment.
 * - Each delete is followed by an fsync of the partition directory
 *   (fs-util.ts says why).
 */
import { statSync } from 'node:fs'
import { fsyncDir } from './fs-util.js'
import type { LogState } from './log-state.js'
import type { Segment } from './segment.js'

/**
 * Delete whole old segments (never the active one): those whose newest
 * batch is more than retentionMs older than `now`, then the oldest ones
 * while the partition is over retentionBytes. Returns how many were deleted.
 */
export function applyRetention(s: LogState, now: number): number {
  s.checkOpen()
  let deleted = 0
  while (s.segments.length > 1) {
    const oldest = s.segments[0]!
    const expired = s.retentionMs > 0 && now - newestTimestampOf(oldest) > s.retentionMs
    const oversize = s.retentionBytes > 0 && s.bytes > s.retentionBytes
    if (!expired && !oversize) break
    deleteOldest(s)
    deleted++
    s.logFn({ level: 'info', msg: 'segment deleted', segment: oldest.logPath, reason: expired ? 'age' : 'bytes', startOffset: s.startOffset })
  }
  if (deleted > 0) afterDeleting(s)
  return deleted
}

/** New retention limits (TOPIC_ALTER); the next applyRetention uses them. 0 keeps forever. */
export function setRetention(s: LogState, retentionMs: number, retentionBytes: number): void {
  s.retentionMs = Math.max(0, retentionMs || 0)
  s.retentionBytes = Math.max(0, retentionBytes || 0)
}

/**
 * Drop every record (TOPIC_PURGE, like Kafka's delete-records up to the
 * end): the log starts at `to` (its end offset, or for a follower the
 * leader's start past its own end) from now on. The active segment is
 * rolled at `to` when it holds anything or starts elsewhere, then every
 * segment before the new one is deleted, so offsets stay monotonic: the next
 * record gets offset `to`, also after a restart (the empty segment's name
 * carries it). Returns how many offsets were dropped.
 */
export function purge(s: LogState, to = s.next): number {
  s.checkOpen()
  if (to < s.next) throw new Error(`purge of ${s.dir} to ${to}, below its end ${s.next}`)
  const dropped = s.next - s.startOffset
  if (s.active.size > 0 || s.active.base !== to) s.roll(to)
  s.next = to
  s.synced = Math.max(s.synced, to) // what was unsynced is gone
  while (s.segments.length > 1) deleteOldest(s)
  fsyncDir(s.dir)
  s.cache.dropBelow(to)
  s.corruptRanges.length = 0
  s.logFn({ level: 'info', msg: 'partition purged', startOffset: to, records: dropped })
  return dropped
}

/**
 * A follower's copy takes its leader's log start (CLUSTER.md: the leader
 * purged, or its retention deleted segments before this copy's did): the
 * records below `offset` go. When the whole log is below it, the log starts
 * again at `offset`, empty (purge). Otherwise only whole segments below it
 * are deleted, never the active one, as retention does: a segment that also
 * holds records at or past `offset` keeps its older ones until its own
 * retention drops it. Returns how many offsets were dropped.
 */
export function dropBefore(s: LogState, offset: number): number {
  s.checkOpen()
  const start = s.startOffset
  if (offset <= start) return 0
  if (offset >= s.next) return purge(s, offset)
  let deleted = 0
  while (s.segments.length > 1 && s.segments[1]!.base <= offset) {
    deleteOldest(s)
    deleted++
  }
  if (deleted === 0) return 0
  afterDeleting(s)
  s.logFn({ level: 'info', msg: 'segments dropped below the leader\'s start', startOffset: s.startOffset, segments: deleted })
  return s.startOffset - start
}

/** Delete the oldest segment (never the only one) and its files. */
function deleteOldest(s: LogState): void {
  const oldest = s.segments.shift()!
  const open = s.openOld.indexOf(oldest)
  if (open >= 0) s.openOld.splice(open, 1)
  oldest.delete()
  s.bytes -= oldest.size
}

/** After old segments were deleted: their names are made durable, and what was known of them forgotten. */
function afterDeleting(s: LogState): void {
  fsyncDir(s.dir)
  s.cache.dropBelow(s.startOffset)
  const remaining = new Set(s.segments.map((seg) => seg.name))
  for (let i = s.corruptRanges.length - 1; i >= 0; i--) {
    if (!remaining.has(s.corruptRanges[i]!.segment)) s.corruptRanges.splice(i, 1)
  }
}

function newestTimestampOf(seg: Segment): number {
  if (seg.lastTimestamp >= 0) return seg.lastTimestamp
  // No readable batch: the file's modification time is the best age we have.
  return statSync(seg.logPath).mtimeMs
}
