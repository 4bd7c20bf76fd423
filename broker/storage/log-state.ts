/**
 * The state of one partition log, shared by the modules that act on it:
 * partition-log.ts (open, append, read, sync: its header says the design),
 * log-replication.ts (a follower's copy) and log-retention.ts (deleting old
 * segments). It holds the segments, the counters and the read cache, and
 * the lookups every operation needs: which segment holds an offset, its
 * index and a cursor in it, rolling to a new segment, recording damage.
 * Internal to storage/: callers use PartitionLog.
 *
 * Design decisions:
 * - Damage in the middle of the log is skipped on read (diskBatches) and
 *   reported once per place (recordDamage: stats().corrupt, a log line);
 *   the good batches after it stay readable. A CorruptRange covers offsets
 *   [fromOffset, toOffset).
 * - At most MAX_OPEN_OLD_SEGMENTS old segments keep their handle and index
 *   in memory (least recently used closed first); a read reopens the rest.
 */
import { SkiffError } from '../../protocol/errors.js'
import { BatchCursor, goodBatches, type Damage, type ScannedBatch } from './batch-cursor.js'
import { fsyncDir } from './fs-util.js'
import type { OffsetIndex } from './index-file.js'
import { ensureIndex, indexedCursor } from './index-trust.js'
import type { LeaderEpochs } from './leader-epochs.js'
import type { CorruptRange, LogFn, PartitionLogOptions, SegmentContext } from './log-types.js'
import { RecentBatches } from './read-cache.js'
import { Segment } from './segment.js'

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
export const DEFAULT_INDEX_INTERVAL_BYTES = 4096
export const DEFAULT_CACHE_BYTES = 4 * 1024 * 1024
/** Index positions are u32. */
const MAX_SEGMENT_BYTES = 0xffffffff
/** Old segments kept open (handle and index in memory) per partition. */
const MAX_OPEN_OLD_SEGMENTS = 4
export const MIN_READ_WINDOW = 64 * 1024
export const MAX_READ_WINDOW = 1024 * 1024

export class LogState {
  readonly segments: Segment[] = []
  readonly cache: RecentBatches
  readonly corruptRanges: CorruptRange[] = []
  /** Old segments with an open handle, least recently used first. */
  readonly openOld: Segment[] = []
  readonly segmentBytes: number
  readonly ctx: SegmentContext
  retentionMs: number
  retentionBytes: number
  readonly logFn: LogFn
  /** Next offset to be assigned. */
  next = 0
  /** Offsets below this are covered by an fdatasync. */
  synced = 0
  /**
   * The fdatasync running on the pool (PartitionLog.syncAsync) and the offset
   * it covers up to once it ends; a truncation lowers `target` (what it cut
   * and wrote again after the sync began is not covered).
   */
  syncInFlight: { target: number } | undefined
  newestTimestamp = 0
  /** Bytes of log (segment files, not indexes). */
  bytes = 0
  closed = false
  epochs!: LeaderEpochs
  /** The epoch new batches carry; recorded in `epochs` when its first batch is appended. */
  epoch = 0

  constructor(readonly dir: string, opts: PartitionLogOptions) {
    this.segmentBytes = Math.min(MAX_SEGMENT_BYTES, Math.max(1, opts.segmentBytes || DEFAULT_SEGMENT_BYTES))
    this.retentionMs = Math.max(0, opts.retentionMs || 0)
    this.retentionBytes = Math.max(0, opts.retentionBytes || 0)
    this.cache = new RecentBatches(opts.cacheBytes ?? DEFAULT_CACHE_BYTES)
    this.logFn = opts.log ?? (() => {})
    this.ctx = {
      indexIntervalBytes: Math.max(1, opts.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES),
      log: this.logFn,
      onDamage: (seg, damage, fromOffset) => this.recordDamage(seg, damage, fromOffset),
      report: undefined,
    }
  }

  /** First offset still stored (after retention). */
  get startOffset(): number {
    return this.segments[0]!.base
  }

  /** The segment appends go to: always the last. */
  get active(): Segment {
    return this.segments[this.segments.length - 1]!
  }

  /** Seal the active segment and start a new one at `baseOffset`. */
  roll(baseOffset: number): Segment {
    const old = this.active
    old.seal()
    old.index = undefined
    const seg = Segment.create(this.dir, baseOffset)
    fsyncDir(this.dir)
    this.segments.push(seg)
    this.logFn({ level: 'debug', msg: 'segment rolled', segment: seg.logPath, baseOffset })
    return seg
  }

  /** Index of the segment that holds `offset` (the last one whose base is <= it). */
  segmentIndexFor(offset: number): number {
    let lo = 0
    let hi = this.segments.length - 1
    let found = 0
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.segments[mid]!.base <= offset) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }

  /** Offsets in segment i are below this. */
  upperOffsetOf(i: number): number {
    return i + 1 < this.segments.length ? this.segments[i + 1]!.base : this.next
  }

  /** The segment's index, loading it (and opening the segment) when it is an old one not in use. */
  indexOf(seg: Segment, i: number): OffsetIndex {
    if (seg !== this.active) {
      const at = this.openOld.indexOf(seg)
      if (at >= 0) this.openOld.splice(at, 1)
      this.openOld.push(seg)
      if (this.openOld.length > MAX_OPEN_OLD_SEGMENTS) {
        const evicted = this.openOld.shift()!
        evicted.closeFd()
        evicted.index = undefined
      }
    }
    return ensureIndex(seg, this.upperOffsetOf(i), this.ctx)
  }

  /** A cursor over segment i positioned at the last indexed batch at or before `offset` (its entry checked: index-trust.ts). */
  cursorFor(seg: Segment, i: number, offset: number, windowBytes: number): BatchCursor {
    return indexedCursor(seg, this.indexOf(seg, i), offset, this.upperOffsetOf(i), windowBytes, this.ctx)
  }

  /** Good batches on disk that hold offsets >= from, in order; damage is recorded and skipped. */
  *diskBatches(from: number, windowBytes: number): Generator<ScannedBatch> {
    if (from >= this.next) return
    for (let i = this.segmentIndexFor(from); i < this.segments.length; i++) {
      const seg = this.segments[i]!
      const cursor = this.cursorFor(seg, i, from, windowBytes)
      for (const batch of goodBatches(cursor, (damage, at) => this.recordDamage(seg, damage, at))) {
        if (batch.header.baseOffset + batch.header.count > from) yield batch
      }
    }
  }

  /** Note damage found in `seg` (once per file position) as a CorruptRange, in the open report when opening, and in a log line. */
  recordDamage(seg: Segment, damage: Damage, fromOffset: number): void {
    if (seg.damage.has(damage.position)) return
    seg.damage.set(damage.position, damage)
    const i = this.segments.indexOf(seg)
    const range: CorruptRange = {
      segment: seg.name,
      position: damage.position,
      fromOffset,
      toOffset: damage.resumeOffset ?? (i >= 0 ? this.upperOffsetOf(i) : fromOffset),
      reason: damage.reason,
    }
    this.corruptRanges.push(range)
    if (this.ctx.report) {
      this.ctx.report.corruptBatches++
      this.ctx.report.corruptOffsets += range.toOffset - range.fromOffset
    }
    this.logFn({ level: 'warn', msg: 'corrupt batch skipped', ...range, segment: seg.logPath })
  }

  /** Every operation but close() refuses a closed log (SHUTTING_DOWN). */
  checkOpen(): void {
    if (this.closed) throw new SkiffError('SHUTTING_DOWN', `partition log ${this.dir} is closed`)
  }
}
