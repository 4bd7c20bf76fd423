/**
 * Finding the first batch of a segment whose timestamp is >= a time, for
 * consumer groups that start "from a timestamp" (replay).
 *
 * Batch timestamps never decrease within a partition (PartitionLog clamps
 * them), so the index can be binary-searched: check the batch at each probed
 * entry (index-trust.ts: an entry is used only when its batch checks), find
 * the last entry older than the time, then walk batches from there. A probe
 * whose batch does not check means the index is wrong: it is rebuilt by a
 * scan and the search starts again on the rebuilt one (once; after that the
 * walk starts at the beginning of the segment).
 */
import { goodBatches, type Damage } from './batch-cursor.js'
import type { OffsetIndex } from './index-file.js'
import { cursorAt, verifiedHeader } from './index-trust.js'
import type { Segment } from './segment.js'

const WALK_WINDOW_BYTES = 64 * 1024

/**
 * Base offset of the first good batch in `seg` with timestamp >= ts, or
 * undefined when there is none. `distrust` rebuilds the index and returns it.
 */
export function firstBatchAtOrAfter(
  seg: Segment,
  index: OffsetIndex,
  upperOffset: number,
  ts: number,
  onDamage: (damage: Damage, fromOffset: number) => void,
  distrust: (entry: number) => OffsetIndex,
): number | undefined {
  let start = -1
  for (let attempt = 0; attempt < 2; attempt++) {
    const found = lastEntryBefore(seg, index, upperOffset, ts)
    if (typeof found === 'number') {
      start = found
      break
    }
    if (attempt === 0) index = distrust(found.distrusted)
  }
  const cursor = start >= 0
    ? cursorAt(seg, index.positionAt(start), seg.base + index.relativeAt(start), upperOffset, WALK_WINDOW_BYTES)
    : cursorAt(seg, 0, seg.base, upperOffset, WALK_WINDOW_BYTES)
  for (const { header } of goodBatches(cursor, onDamage)) {
    if (header.timestamp >= ts) return header.baseOffset
  }
  return undefined
}

/** The last entry whose batch is older than `ts` (-1: none), or the first probed entry that does not check. */
function lastEntryBefore(seg: Segment, index: OffsetIndex, upperOffset: number, ts: number): number | { distrusted: number } {
  let lo = 0
  let hi = index.length - 1
  let start = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const header = verifiedHeader(seg, index, mid, upperOffset, WALK_WINDOW_BYTES)
    if (!header) return { distrusted: mid }
    if (header.timestamp < ts) {
      start = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return start
}
