/**
 * What `PartitionLog.open` does to the segments it finds.
 *
 * - The last segment is the only one that can have a torn tail (a crash in the
 *   middle of a write, or writes the OS had not flushed): older segments were
 *   fdatasynced before the next one was created. It is scanned from its last
 *   index entry that points at a good batch (or from 0) to the end, every batch
 *   checked. Damage with a good batch somewhere after it is damage in the middle
 *   (reported, kept, skipped on read); damage with nothing good after it is the
 *   tail, cut off so appends continue right after the last good batch.
 * - Older segments are trusted to be complete; their index is checked for
 *   consistency and rebuilt by a scan when missing or inconsistent, and the
 *   batches after their last index entry are read to learn the newest
 *   timestamp (for retention by age and timestamp lookups).
 *
 * Nothing here throws for damaged content: only fs errors (permissions, I/O)
 * get out.
 */
import { BatchCursor, goodBatches, type Damage } from './batch-cursor.js'
import { OffsetIndex } from './index-file.js'
import type { Segment } from './segment.js'

/** How many index entries from the end recovery tries before it scans the segment from the start. */
const MAX_INDEX_ENTRIES_TRIED = 16
/** Relative offsets are u32 in the index. */
const MAX_RELATIVE = 0xffffffff
const RECOVERY_WINDOW_BYTES = 1 << 20

export type LogFn = (event: Record<string, unknown>) => void

export interface SegmentContext {
  indexIntervalBytes: number
  log: LogFn
  /** Called for damage the first time it is found; `fromOffset` is the first offset it may hide. */
  onDamage(seg: Segment, damage: Damage, fromOffset: number): void
}

/** Load the segment's index, or rebuild it by scanning when it is missing or does not agree with the log. */
export function ensureIndex(seg: Segment, upperOffset: number, ctx: SegmentContext): OffsetIndex {
  if (seg.index) return seg.index
  const maxRelative = Number.isFinite(upperOffset) ? Math.min(MAX_RELATIVE, upperOffset - seg.base - 1) : MAX_RELATIVE
  const loaded = OffsetIndex.load(seg.indexPath, seg.size, maxRelative)
  if (loaded?.clean) {
    seg.index = loaded.index
    return loaded.index
  }
  rebuildIndex(seg, upperOffset, ctx, loaded ? 'inconsistent' : 'missing')
  return seg.index!
}

/** Scan the whole segment, writing a fresh index; learns the newest timestamp on the way. */
export function rebuildIndex(seg: Segment, upperOffset: number, ctx: SegmentContext, why: string): void {
  const index = new OffsetIndex(seg.indexPath)
  const cursor = cursorAt(seg, 0, seg.base, upperOffset)
  let lastTimestamp = -1
  for (const { position, header } of goodBatches(cursor, (damage, at) => ctx.onDamage(seg, damage, at))) {
    index.addIfDue(header.baseOffset - seg.base, position, ctx.indexIntervalBytes)
    lastTimestamp = Math.max(lastTimestamp, header.timestamp)
  }
  index.rewrite()
  seg.index = index
  seg.lastTimestamp = lastTimestamp
  ctx.log({ level: 'warn', msg: 'index rebuilt', segment: seg.logPath, reason: why, entries: index.length })
}

/**
 * Prepare a segment that is not the last one: check (or rebuild) its index and
 * learn its newest timestamp from the batches after the last index entry.
 */
export function openClosedSegment(seg: Segment, upperOffset: number, ctx: SegmentContext): void {
  const hadIndex = seg.index !== undefined
  const index = ensureIndex(seg, upperOffset, ctx)
  // A rebuild walked every batch and already knows the newest timestamp.
  if (!hadIndex && seg.lastTimestamp >= 0) return
  const last = index.length - 1
  const cursor = last >= 0
    ? cursorAt(seg, index.positionAt(last), seg.base + index.relativeAt(last), upperOffset)
    : cursorAt(seg, 0, seg.base, upperOffset)
  for (const { header } of goodBatches(cursor, (damage, at) => ctx.onDamage(seg, damage, at))) {
    seg.lastTimestamp = Math.max(seg.lastTimestamp, header.timestamp)
  }
}

/**
 * Recover the last segment: scan from the last trustworthy index entry,
 * cut a damaged tail, repair the index. Returns the next offset to assign.
 */
export function recoverActiveSegment(seg: Segment, ctx: SegmentContext): number {
  const loaded = OffsetIndex.load(seg.indexPath, seg.size, MAX_RELATIVE)
  const index = loaded?.index ?? new OffsetIndex(seg.indexPath)
  let indexChanged = !loaded?.clean
  const entriesLoaded = index.length

  // Start from the newest index entry that points at a good batch with the offset it claims.
  let start = -1
  for (let i = index.length - 1; i >= 0 && i >= index.length - MAX_INDEX_ENTRIES_TRIED; i--) {
    const expected = seg.base + index.relativeAt(i)
    const step = cursorAt(seg, index.positionAt(i), expected, Infinity).next()
    if (step.kind === 'batch' && step.batch.header.baseOffset === expected) {
      start = i
      break
    }
  }
  index.truncate(start + 1)
  if (index.length !== entriesLoaded) indexChanged = true

  let endOffset = start >= 0 ? seg.base + index.relativeAt(start) : seg.base
  const cursor = start >= 0 ? cursorAt(seg, index.positionAt(start), endOffset, Infinity) : cursorAt(seg, 0, seg.base, Infinity)
  for (;;) {
    const step = cursor.next()
    if (step.kind === 'end') break
    if (step.kind === 'batch') {
      const { position, header } = step.batch
      if (index.addIfDue(header.baseOffset - seg.base, position, ctx.indexIntervalBytes)) indexChanged = true
      seg.lastTimestamp = Math.max(seg.lastTimestamp, header.timestamp)
      endOffset = header.baseOffset + header.count
      continue
    }
    const { damage } = step
    if (damage.resumeOffset !== undefined) {
      // A good batch follows: this is damage in the middle, not a torn tail.
      ctx.onDamage(seg, damage, cursor.expectedOffset)
      continue
    }
    const dropped = seg.size - damage.position
    seg.truncate(damage.position)
    ctx.log({
      level: 'warn',
      msg: 'log tail repaired',
      segment: seg.logPath,
      position: damage.position,
      bytesDropped: dropped,
      reason: damage.reason,
      endOffset,
    })
    break
  }
  seg.index = index
  if (indexChanged) index.rewrite()
  if (!loaded?.clean) ctx.log({ level: 'info', msg: 'index rebuilt', segment: seg.logPath, reason: loaded ? 'inconsistent' : 'missing', entries: index.length })
  return endOffset
}

function cursorAt(seg: Segment, position: number, expectedOffset: number, upperOffset: number): BatchCursor {
  return new BatchCursor({
    fd: seg.fd,
    fileSize: seg.size,
    position,
    expectedOffset,
    upperOffset,
    windowBytes: RECOVERY_WINDOW_BYTES,
    known: seg.damage,
  })
}
