/**
 * The one line (and the metrics) a partition reports when it opens: what the
 * recovery of its log and of its consumer groups found. Every partition that
 * existed before this start reports, clean or not, so "nothing was cut" is
 * said too; a partition created now has nothing to recover and stays quiet.
 */
import type { WorkerMetrics } from '../observability/worker-metrics.js'

/**
 * What the storage engine's recovery of a partition log found, as
 * PartitionLog.recovery reports it (storage/partition-log.ts; read
 * defensively: a log that does not report it counts as zeros).
 */
export interface RecoveryStats {
  segmentsScanned: number
  tornBytesCut: number
  tornBatchesCut: number
  corruptBatches: number
  corruptOffsets: number
  indexesRebuilt: number
  indexEntriesDistrusted: number
}

const NOTHING_FOUND: RecoveryStats = {
  segmentsScanned: 0,
  tornBytesCut: 0,
  tornBatchesCut: 0,
  corruptBatches: 0,
  corruptOffsets: 0,
  indexesRebuilt: 0,
  indexEntriesDistrusted: 0,
}

/** The log's recovery figures, zeros when it has none. */
export function logRecoveryOf(log: object): RecoveryStats {
  return (log as { recovery?: RecoveryStats }).recovery ?? NOTHING_FOUND
}

export interface PartitionRecovery {
  topic: string
  partition: number
  log: RecoveryStats
  startOffset: number
  endOffset: number
  groups: number
  groupsClamped: number
  groupsReset: number
  ms: number
}

/** Log the "partition recovered" line and count its figures (skiff_recovery_*_total). */
export function reportRecovery(r: PartitionRecovery, emit: (e: Record<string, unknown>) => void, metrics: WorkerMetrics): void {
  const { log } = r
  const trouble = log.tornBatchesCut + log.corruptBatches + r.groupsClamped + r.groupsReset > 0
  emit({
    level: trouble ? 'warn' : 'info',
    msg: 'partition recovered',
    topic: r.topic,
    partition: r.partition,
    segmentsScanned: log.segmentsScanned,
    tornBatchesCut: log.tornBatchesCut,
    tornBytesCut: log.tornBytesCut,
    corruptBatches: log.corruptBatches,
    corruptOffsets: log.corruptOffsets,
    indexesRebuilt: log.indexesRebuilt,
    indexEntriesDistrusted: log.indexEntriesDistrusted,
    startOffset: r.startOffset,
    endOffset: r.endOffset,
    groups: r.groups,
    groupsClamped: r.groupsClamped,
    groupsReset: r.groupsReset,
    ms: Math.round(r.ms * 10) / 10,
  })
  metrics.recovered([r.topic, log.tornBatchesCut, log.corruptBatches, r.groupsClamped, r.groupsReset])
}
