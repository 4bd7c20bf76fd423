/**
 * Metric counting inside a partition worker. Events are counted where they
 * happen (an append, a delivery, an ack, a dead letter, an fsync) into plain
 * numbers; nothing crosses to the gateway per event. At the end of the
 * worker's turn the counts that changed are taken as one `metrics` op that
 * rides the turn's single message to the gateway (see Outbox), and zeroed, so
 * the gateway's sums over all workers are exact. Gauges (lag, log size, event
 * loop utilization) are state rather than events: the worker samples them on a
 * timer and sends them as one `gauges` op that replaces its previous sample.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks'

/** Indexes of the counts in a CountRow. */
export const PUBLISHED = 2
export const DELIVERED = 3
export const ACKED = 4
export const REDELIVERED = 5
export const DEAD_LETTERED = 6

/**
 * Counts for one topic and group since the last op:
 * [topic, group, published, delivered, acked, redelivered, deadLettered].
 * `published` is counted on the topic's own row, whose group is ''.
 */
export type CountRow = [topic: string, group: string, published: number, delivered: number, acked: number, redelivered: number, deadLettered: number]

/**
 * What recovery found when a partition opened (worker/recovery-report.ts):
 * [topic, segments scanned, torn batches cut, corrupt batches reported, groups clamped, groups reset].
 */
export type RecoveryRow = [topic: string, segmentsScanned: number, tornBatches: number, corruptBatches: number, groupsClamped: number, groupsReset: number]

/** Worker -> gateway: what was counted since the previous `metrics` op. */
export interface MetricDeltas {
  counts: CountRow[]
  /** Log fsync durations, seconds, one per fsync. At most one per partition per turn. */
  fsync: number[]
  /** One row per partition opened since the previous op (absent when none was). */
  recovery?: RecoveryRow[]
}

/** Worker -> gateway: the worker's current gauges; replaces its previous snapshot. */
export interface GaugeSnapshot {
  worker: number
  /** Event loop utilization (0-1) since the previous snapshot. */
  elu: number
  /**
   * [topic, group, partition, records not yet acked] for every group of every open partition,
   * its consumers connected or not: a partition loads all its groups when it opens, and the
   * worker opens every partition it owns at start and samples once before it says it is ready.
   */
  lag: [string, string, number, number][]
  /** [topic, partition, bytes on disk, offsets lost to damage found so far] for every open partition. */
  logBytes: [string, number, number, number][]
}

/** What the gauge sampler needs from a partition. */
export interface GaugeSource {
  readonly topic: string
  readonly partition: number
  readonly log: { readonly sizeBytes: number; stats(): { corrupt: { fromOffset: number; toOffset: number }[] } }
  groupLags(): [group: string, lag: number][]
}

export class WorkerMetrics {
  private readonly rows = new Map<string, CountRow>()
  private readonly changed = new Set<CountRow>()
  private fsyncs: number[] = []
  private recoveries: RecoveryRow[] = []
  private elu: EventLoopUtilization = performance.eventLoopUtilization()

  /** `wake` makes sure a turn-end flush is coming (the outbox's schedule()). */
  constructor(
    readonly worker: number,
    private readonly wake: () => void,
  ) {}

  /** The counters of one partition (rows are shared by the partitions of a topic). */
  partition(topic: string): PartitionCounters {
    return new PartitionCounters(topic, this)
  }

  row(topic: string, group: string): CountRow {
    const key = `${topic}\u0000${group}`
    let r = this.rows.get(key)
    if (!r) this.rows.set(key, (r = [topic, group, 0, 0, 0, 0, 0]))
    return r
  }

  bump(row: CountRow, index: number, n: number): void {
    if (this.idle) this.wake()
    row[index] = (row[index] as number) + n
    this.changed.add(row)
  }

  fsync(seconds: number): void {
    if (this.idle) this.wake()
    this.fsyncs.push(seconds)
  }

  /** A partition opened and recovered (one row each). */
  recovered(row: RecoveryRow): void {
    if (this.idle) this.wake()
    this.recoveries.push(row)
  }

  /** Something was counted since the last take. */
  get pending(): boolean {
    return !this.idle
  }

  /** Nothing counted since the last take. */
  private get idle(): boolean {
    return this.changed.size === 0 && this.fsyncs.length === 0 && this.recoveries.length === 0
  }

  /** Forget a dropped topic's rows (its counts so far are still taken). */
  forget(topic: string): void {
    for (const [key, r] of this.rows) if (r[0] === topic && !this.changed.has(r)) this.rows.delete(key)
  }

  /** The counts since the last take, zeroed here; undefined when nothing happened. */
  take(): MetricDeltas | undefined {
    if (this.idle) return undefined
    const counts: CountRow[] = []
    for (const r of this.changed) {
      counts.push([r[0], r[1], r[2], r[3], r[4], r[5], r[6]])
      r[2] = r[3] = r[4] = r[5] = r[6] = 0
    }
    this.changed.clear()
    const fsync = this.fsyncs
    this.fsyncs = []
    if (this.recoveries.length === 0) return { counts, fsync }
    const recovery = this.recoveries
    this.recoveries = []
    return { counts, fsync, recovery }
  }

  /** Sample the gauges of every open partition. */
  gauges(partitions: Iterable<GaugeSource>): GaugeSnapshot {
    const lag: GaugeSnapshot['lag'] = []
    const logBytes: GaugeSnapshot['logBytes'] = []
    for (const p of partitions) {
      let damaged = 0
      for (const r of p.log.stats().corrupt) damaged += r.toOffset - r.fromOffset
      logBytes.push([p.topic, p.partition, p.log.sizeBytes, damaged])
      for (const [group, n] of p.groupLags()) lag.push([p.topic, group, p.partition, n])
    }
    const now = performance.eventLoopUtilization()
    const elu = performance.eventLoopUtilization(now, this.elu).utilization
    this.elu = now
    return { worker: this.worker, elu: Number.isFinite(elu) ? elu : 0, lag, logBytes }
  }
}

/** A partition's view: one method per event, each a couple of additions. */
export class PartitionCounters {
  private readonly own: CountRow
  private readonly groups = new Map<string, CountRow>()

  constructor(
    readonly topic: string,
    private readonly metrics: WorkerMetrics,
  ) {
    this.own = metrics.row(topic, '')
  }

  appended(records: number): void {
    this.metrics.bump(this.own, PUBLISHED, records)
  }

  /** `n` deliveries, `redelivered` of them not the first delivery of their message. */
  delivered(group: string, n: number, redelivered: number): void {
    const r = this.group(group)
    this.metrics.bump(r, DELIVERED, n)
    if (redelivered > 0) this.metrics.bump(r, REDELIVERED, redelivered)
  }

  acked(group: string, n = 1): void {
    this.metrics.bump(this.group(group), ACKED, n)
  }

  deadLettered(group: string): void {
    this.metrics.bump(this.group(group), DEAD_LETTERED, 1)
  }

  private group(group: string): CountRow {
    let r = this.groups.get(group)
    if (!r) this.groups.set(group, (r = this.metrics.row(this.topic, group)))
    return r
  }
}
