/**
 * Using a segment's sparse index without trusting it (index-file.ts): an
 * entry is used only after the batch it points at checks (magic, CRC,
 * records, base offset = the entry's offset). An entry that fails is ignored:
 * the index is rebuilt by scanning the segment, and the lookup is done again
 * on the rebuilt one. A wrong entry therefore costs one scan of one segment;
 * it can never make a reader start past records it should return (an offset
 * set too low) or report damage in an intact batch (a position set wrong).
 * Damage the scan finds is reported by the scan, like any other.
 */
import type { BatchHeader } from '../../protocol/batch.js'
import { BatchCursor, goodBatches } from './batch-cursor.js'
import { OffsetIndex } from './index-file.js'
import { tally, type SegmentContext } from './log-types.js'
import type { Segment } from './segment.js'

/** Relative offsets are u32 in the index. */
const MAX_RELATIVE = 0xffffffff
const SCAN_WINDOW_BYTES = 1 << 20

export function cursorAt(seg: Segment, position: number, expectedOffset: number, upperOffset: number, windowBytes = SCAN_WINDOW_BYTES): BatchCursor {
  return new BatchCursor({ fd: seg.fd, fileSize: seg.size, position, expectedOffset, upperOffset, windowBytes, known: seg.damage })
}

/** Load the segment's index, or rebuild it by scanning when it is missing or does not agree with the log. */
export function ensureIndex(seg: Segment, upperOffset: number, ctx: SegmentContext): OffsetIndex {
  return seg.index ?? loadIndex(seg, upperOffset, ctx).index
}

/** As ensureIndex, saying whether it had to rebuild (a rebuild has also learned the newest timestamp). */
export function loadIndex(seg: Segment, upperOffset: number, ctx: SegmentContext): { index: OffsetIndex; rebuilt: boolean } {
  const maxRelative = Number.isFinite(upperOffset) ? Math.min(MAX_RELATIVE, upperOffset - seg.base - 1) : MAX_RELATIVE
  const loaded = OffsetIndex.load(seg.indexPath, seg.size, maxRelative)
  if (loaded?.clean) {
    seg.index = loaded.index
    return { index: loaded.index, rebuilt: false }
  }
  if (loaded) tally(ctx, 'indexEntriesDistrusted', loaded.dropped)
  return { index: rebuildIndex(seg, upperOffset, ctx, loaded ? 'inconsistent' : 'missing'), rebuilt: true }
}

/** Scan the whole segment, writing a fresh index; learns the newest timestamp on the way. */
export function rebuildIndex(seg: Segment, upperOffset: number, ctx: SegmentContext, why: string): OffsetIndex {
  seg.index?.closeFd()
  const index = new OffsetIndex(seg.indexPath)
  const cursor = cursorAt(seg, 0, seg.base, upperOffset)
  let lastTimestamp = -1
  for (const { position, header } of goodBatches(cursor, (damage, at) => ctx.onDamage(seg, damage, at))) {
    index.addIfDue(header.baseOffset - seg.base, position, ctx.indexIntervalBytes)
    lastTimestamp = Math.max(lastTimestamp, header.timestamp)
  }
  index.rewrite()
  seg.index = index
  seg.lastTimestamp = Math.max(seg.lastTimestamp, lastTimestamp)
  tally(ctx, 'indexesRebuilt')
  ctx.log({ level: 'warn', msg: 'index rebuilt', segment: seg.logPath, reason: why, entries: index.length })
  return index
}

/** Entry `i` does not match its batch: say so and rebuild the index from the log. */
export function distrustIndex(seg: Segment, upperOffset: number, ctx: SegmentContext, i: number): OffsetIndex {
  const index = seg.index
  ctx.log({
    level: 'warn',
    msg: 'index entry does not match the log',
    segment: seg.logPath,
    entryOffset: index ? seg.base + index.relativeAt(i) : undefined,
    entryPosition: index?.positionAt(i),
  })
  tally(ctx, 'indexEntriesDistrusted')
  return rebuildIndex(seg, upperOffset, ctx, 'an entry did not match its batch')
}

/**
 * A cursor over `seg` standing on the last indexed batch at or before
 * `offset`, the entry checked first (see the header); from the start of the
 * segment when no entry is at or before it.
 */
export function indexedCursor(seg: Segment, index: OffsetIndex, offset: number, upperOffset: number, windowBytes: number, ctx: SegmentContext): BatchCursor {
  for (let attempt = 0; attempt < 2 && offset > seg.base; attempt++) {
    const entry = index.floorEntry(offset - seg.base)
    if (entry < 0) break
    const entryOffset = seg.base + index.relativeAt(entry)
    const cursor = cursorAt(seg, index.positionAt(entry), entryOffset, upperOffset, windowBytes)
    if (cursor.startsWith(entryOffset)) return cursor
    // The second failure would mean the file changed under us: fall back to a scan from the start.
    if (attempt === 0) index = distrustIndex(seg, upperOffset, ctx, entry)
  }
  return cursorAt(seg, 0, seg.base, upperOffset, windowBytes)
}

/** The header of the batch entry `i` points at, when that batch checks and carries the entry's offset. */
export function verifiedHeader(seg: Segment, index: OffsetIndex, i: number, upperOffset: number, windowBytes: number): BatchHeader | undefined {
  const entryOffset = seg.base + index.relativeAt(i)
  const cursor = cursorAt(seg, index.positionAt(i), entryOffset, upperOffset, windowBytes)
  if (!cursor.startsWith(entryOffset)) return undefined
  const step = cursor.next()
  return step.kind === 'batch' ? step.batch.header : undefined
}
