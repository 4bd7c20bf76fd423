/**
 * The one line (and the metrics) a partition reports when it opens: what the
 * recovery of its log and of its consumer groups found. Every partition that
 * existed before this start reports, clean or not, so "nothing was cut" is
 * said too; a partition created now has nothing to recover and stays quiet.
 */
import type { RecoveryReport } from '../storage/partition-log.js'
import type { WorkerMetrics } from '../observability/worker-metrics.js'

export interface PartitionRecovery {
  topic: string
  partition: number
  /** What the log's recovery found (PartitionLog.recovery). */
  log: RecoveryReport
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
  metrics.recovered([r.topic, log.segmentsScanned, log.tornBatchesCut, log.corruptBatches, r.groupsClamped, r.groupsReset])
}
