/**
 * What `PartitionLog.open` does to the segments it finds, counting what it
 * found in the partition's RecoveryReport (log-types.ts).
 *
 * - The last segment is the only one that can have a torn tail (a crash in the
 *   middle of a write, or writes the OS had not flushed): older segments were
 *   fdatasynced before the next one was created. It is scanned from its last
 *   index entry that points at a good batch (or from 0) to the end, every batch
 *   checked. Damage with a good batch somewhere after it is damage in the middle
 *   (reported, kept, skipped on read). Damage with nothing good after it is
 *   judged by tail-damage.ts: a torn write is cut off so appends continue right
 *   after the last good batch; a complete batch that fails its checks is
 *   corruption, kept and reported like damage in the middle, and appends
 *   continue after the offsets it may hold.
 * - Older segments are trusted to be complete; their index is checked for
 *   consistency and rebuilt by a scan when missing or inconsistent, and the
 *   batches after their last index entry are read to learn the newest
 *   timestamp (for retention by age and timestamp lookups).
 * - Index entries are hints (index-trust.ts): one that does not match its
 *   batch is dropped, never used to skip or to report damage.
 *
 * Nothing here throws for damaged content: only fs errors (permissions, I/O)
 * get out.
 */
import { goodBatches } from './batch-cursor.js'
import { OffsetIndex } from './index-file.js'
import { cursorAt, loadIndex, rebuildIndex } from './index-trust.js'
import { tally, type SegmentContext } from './log-types.js'
import type { Segment } from './segment.js'
import { judgeTail } from './tail-damage.js'

/** How many index entries from the end recovery tries before it scans the segment from the start. */
const MAX_INDEX_ENTRIES_TRIED = 16
/** Relative offsets are u32 in the index. */
const MAX_RELATIVE = 0xffffffff

/**
 * Prepare a segment that is not the last one: check (or rebuild) its index and
 * learn its newest timestamp from the batches after the last index entry.
 */
export function openClosedSegment(seg: Segment, upperOffset: number, ctx: SegmentContext): void {
  tally(ctx, 'segmentsScanned')
  const { index, rebuilt } = loadIndex(seg, upperOffset, ctx)
  // A rebuild walked every batch and already knows the newest timestamp.
  if (rebuilt) return
  const last = index.length - 1
  let cursor = cursorAt(seg, 0, seg.base, upperOffset)
  if (last >= 0) {
    const entryOffset = seg.base + index.relativeAt(last)
    cursor = cursorAt(seg, index.positionAt(last), entryOffset, upperOffset)
    if (!cursor.startsWith(entryOffset)) {
      tally(ctx, 'indexEntriesDistrusted')
      rebuildIndex(seg, upperOffset, ctx, 'its last entry did not match its batch')
      return
    }
  }
  for (const { header } of goodBatches(cursor, (damage, at) => ctx.onDamage(seg, damage, at))) {
    seg.lastTimestamp = Math.max(seg.lastTimestamp, header.timestamp)
  }
}

/**
 * Recover the last segment: scan from the last trustworthy index entry, cut
 * a torn tail or keep and report a corrupt one, repair the index. Returns the
 * next offset to assign.
 */
export function recoverActiveSegment(seg: Segment, ctx: SegmentContext): number {
  if (seg.size > 0) tally(ctx, 'segmentsScanned')
  const loaded = OffsetIndex.load(seg.indexPath, seg.size, MAX_RELATIVE)
  const index = loaded?.index ?? new OffsetIndex(seg.indexPath)
  let distrusted = loaded?.dropped ?? 0
  const entriesLoaded = index.length

  // Start from the newest index entry that points at a good batch with the offset it claims.
  let start = -1
  for (let i = index.length - 1; i >= 0 && i >= index.length - MAX_INDEX_ENTRIES_TRIED; i--) {
    const expected = seg.base + index.relativeAt(i)
    if (cursorAt(seg, index.positionAt(i), expected, Infinity).startsWith(expected)) {
      start = i
      break
    }
  }
  index.truncate(start + 1)
  distrusted += entriesLoaded - index.length
  // Missing, inconsistent or with entries dropped: the file is rewritten from what the scan confirms.
  const rebuilt = loaded ? !loaded.clean || distrusted > 0 : seg.size > 0
  let indexChanged = rebuilt || !loaded

  let endOffset = start >= 0 ? seg.base + index.relativeAt(start) : seg.base
  const cursor = cursorAt(seg, start >= 0 ? index.positionAt(start) : 0, endOffset, Infinity)
  for (;;) {
    const step = cursor.next()
    if (step.kind === 'end') break
    if (step.kind === 'batch') {
      const { position, header } = step.batch
      if (index.addIfDue(header.baseOffset - seg.base, position, ctx.indexIntervalBytes)) indexChanged = true
      seg.lastTimestamp = Math.max(seg.lastTimestamp, header.timestamp)
      seg.lastEpoch = header.leaderEpoch
      endOffset = header.baseOffset + header.count
      continue
    }
    const { damage } = step
    if (damage.resumeOffset !== undefined) {
      // A good batch follows: this is damage in the middle, not the tail.
      if (!step.known) ctx.onDamage(seg, damage, cursor.expectedOffset)
      continue
    }
    const verdict = judgeTail(seg.fd, damage.position, seg.size, cursor.expectedOffset)
    if (verdict.kind === 'corrupt') {
      // Kept: reported as a corrupt range up to the offsets it may hold, which stay taken.
      ctx.onDamage(seg, { ...damage, resumeOffset: verdict.endOffset }, cursor.expectedOffset)
      ctx.log({ level: 'warn', msg: 'corrupt end of log kept', segment: seg.logPath, position: damage.position, fromOffset: cursor.expectedOffset, toOffset: verdict.endOffset, reason: verdict.why, endOffset: verdict.endOffset })
      endOffset = verdict.endOffset
      break
    }
    const dropped = seg.size - damage.position
    seg.truncate(damage.position)
    tally(ctx, 'tornBatchesCut')
    tally(ctx, 'tornBytesCut', dropped)
    ctx.log({
      level: 'warn',
      msg: 'log tail repaired',
      segment: seg.logPath,
      position: damage.position,
      bytesDropped: dropped,
      reason: verdict.why,
      endOffset,
    })
    break
  }
  seg.index = index
  if (indexChanged) index.rewrite()
  tally(ctx, 'indexEntriesDistrusted', distrusted)
  if (rebuilt) {
    tally(ctx, 'indexesRebuilt')
    ctx.log({ level: 'info', msg: 'index rebuilt', segment: seg.logPath, reason: !loaded ? 'missing' : 'entries dropped', entriesDropped: distrusted, entries: index.length })
  }
  return endOffset
}
