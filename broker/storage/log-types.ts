/**
 * The shapes a partition log shares with its callers and between its own
 * modules: options, stats, corrupt ranges, and the recovery report.
 */
import type { Damage } from './batch-cursor.js'
import type { Segment } from './segment.js'

export type LogFn = (event: Record<string, unknown>) => void

export interface PartitionLogOptions {
  /** Created if missing. */
  dir: string
  /** Roll to a new segment when the active one would pass this (default 64 MiB). */
  segmentBytes: number
  /** One index entry per this many bytes of log (default 4096). */
  indexIntervalBytes?: number
  /** 0 = keep forever. */
  retentionMs: number
  /** 0 = no size limit (per partition). */
  retentionBytes: number
  /** Recent-batch read cache (default 4 MiB; 0 disables it). */
  cacheBytes?: number
  /** Structured log lines, e.g. {level:'warn', msg:'log tail repaired', ...}. */
  log?: LogFn
}

export interface CorruptRange {
  /** File name of the segment, e.g. 00000000000000000000.log. */
  segment: string
  /** File position where the damage starts. */
  position: number
  /** First offset the damage hides. */
  fromOffset: number
  /** First offset after the damage (exclusive end of the range). */
  toOffset: number
  reason: string
}

export interface ProducerBatch {
  producerId: number
  baseSequence: number
  baseOffset: number
  count: number
  timestamp: number
}

export interface PartitionLogStats {
  startOffset: number
  endOffset: number
  bytes: number
  segments: number
  corrupt: CorruptRange[]
}

/**
 * What PartitionLog.open found and did, for the per-partition summary line
 * and metrics at start. Counts only what happened during open; damage found
 * later (a read reaching a damaged closed segment) is in stats().corrupt.
 */
export interface RecoveryReport {
  /** Segment files recovery read at open: the last one from its last good index entry to its end, each older one after its last index entry (or whole, when its index was rebuilt). A partition created empty scans none. */
  segmentsScanned: number
  /** Bytes cut off the end of the last segment as a torn write (tail-damage.ts). */
  tornBytesCut: number
  /** Torn ends cut: 0 or 1 per partition (one incomplete batch, or a zero-filled stretch). */
  tornBatchesCut: number
  /** Damaged stretches found at open and reported (each one corrupt range, usually one batch), including a corrupt last batch that was kept. */
  corruptBatches: number
  /** Offsets those stretches hide (sum of toOffset - fromOffset): what skiff_log_corrupt_offsets adds for them. */
  corruptOffsets: number
  /** Index files rewritten from a scan at open because they were missing, inconsistent, or had entries that did not match their batch. Entries merely added for batches not yet indexed do not count. */
  indexesRebuilt: number
  /** Index entries read at open and dropped instead of used: out of order or range, torn, or pointing at something other than a good batch with the entry's offset (in the last segment, newer entries tried before a good one count too). */
  indexEntriesDistrusted: number
}

export function emptyRecoveryReport(): RecoveryReport {
  return { segmentsScanned: 0, tornBytesCut: 0, tornBatchesCut: 0, corruptBatches: 0, corruptOffsets: 0, indexesRebuilt: 0, indexEntriesDistrusted: 0 }
}

export interface SegmentContext {
  indexIntervalBytes: number
  log: LogFn
  /** Called for damage the first time it is found; `fromOffset` is the first offset it may hide. */
  onDamage(seg: Segment, damage: Damage, fromOffset: number): void
  /** Set while the log opens: recovery counts what it finds here. */
  report: RecoveryReport | undefined
}

/** Add to a count of the report, when one is being kept. */
export function tally(ctx: SegmentContext, key: keyof RecoveryReport, n = 1): void {
  if (ctx.report) ctx.report[key] += n
}
