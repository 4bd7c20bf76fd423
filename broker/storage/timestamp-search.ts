/**
 * Finding the first batch of a segment whose timestamp is >= a time, for
 * consumer groups that start "from a timestamp" (replay).
 *
 * Batch timestamps never decrease within a partition (PartitionLog clamps
 * them), so the index can be binary-searched: read the header at each probed
 * entry, find the last entry older than the time, then walk batches from there.
 * An entry whose header does not match what the index claims is not trusted:
 * the walk then starts at the beginning of the segment.
 */
import { BATCH_HEADER_BYTES, readBatchHeader } from '../../protocol/batch.js'
import { BatchCursor, goodBatches, type Damage } from './batch-cursor.js'
import { readAt } from './fs-util.js'
import type { OffsetIndex } from './index-file.js'
import type { Segment } from './segment.js'

const WALK_WINDOW_BYTES = 64 * 1024

/** Base offset of the first good batch in `seg` with timestamp >= ts, or undefined when there is none. */
export function firstBatchAtOrAfter(
  seg: Segment,
  index: OffsetIndex,
  upperOffset: number,
  ts: number,
  onDamage: (damage: Damage, fromOffset: number) => void,
): number | undefined {
  let lo = 0
  let hi = index.length - 1
  let start = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const header = readBatchHeader(readAt(seg.fd, index.positionAt(mid), BATCH_HEADER_BYTES))
    if (!header || header.baseOffset !== seg.base + index.relativeAt(mid)) {
      start = -1
      break
    }
    if (header.timestamp < ts) {
      start = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  const cursor = new BatchCursor({
    fd: seg.fd,
    fileSize: seg.size,
    position: start >= 0 ? index.positionAt(start) : 0,
    expectedOffset: start >= 0 ? seg.base + index.relativeAt(start) : seg.base,
    upperOffset,
    windowBytes: WALK_WINDOW_BYTES,
    known: seg.damage,
  })
  for (const { header } of goodBatches(cursor, onDamage)) {
    if (header.timestamp >= ts) return header.baseOffset
  }
  return undefined
}
