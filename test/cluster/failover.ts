/**
 * Failover time per fault: from the moment the fault struck to the first
 * confirm of a publish that was *sent* at or after that moment to one of the
 * partitions the fault hit (its leader's, or all for whole-cluster faults).
 * A publish sent before the fault may be confirmed by a leader that fsynced
 * it just before dying, which would say nothing about recovery; one sent
 * after can only be confirmed once the partition is served again.
 *
 * The same for consumers (deliveryEvents): to the first delivery to the
 * group of a record sent at or after the fault to a partition it hit. A
 * consumer follows a partition's new leader on its own (its client is not
 * the producers'), so this says how long the application's reading stops.
 *
 * Measured from the workload's log (Confirmed.sentAt / .at, Delivered.at),
 * so it includes the clients' refresh and retry: what an application waits.
 */
import type { Confirmed, Delivered } from './checker.js'
import type { FaultName, FaultRecord } from './faults.js'

/** A record's publish (sentAt) and an event of it (at): its confirm, or a delivery. */
export interface Timed {
  partition: number
  sentAt?: number | undefined
  at?: number | undefined
}

/** Each delivery of a confirmed record, timed from its publish. */
export function deliveryEvents(confirmed: readonly Confirmed[], delivered: readonly Delivered[]): Timed[] {
  const sentAt = new Map<string, number>()
  for (const c of confirmed) if (c.sentAt !== undefined) sentAt.set(c.id, c.sentAt)
  const out: Timed[] = []
  for (const d of delivered) {
    const sent = sentAt.get(d.id)
    if (sent !== undefined && d.at !== undefined) out.push({ partition: d.partition, sentAt: sent, at: d.at })
  }
  return out
}

export interface Failover {
  fault: FaultRecord
  /** ms, or undefined when no such confirm (or delivery) came before the next fault (or the end). */
  ms: number | undefined
}

/** One per injected fault (those not injected are left out); `events`: confirms, or deliveryEvents(). */
export function failoverTimes(faults: readonly FaultRecord[], events: readonly Timed[]): Failover[] {
  const timed = events.filter((c) => c.sentAt !== undefined && c.at !== undefined).sort((a, b) => a.sentAt! - b.sentAt!)
  const injected = faults.filter((f) => !f.skipped)
  return injected.map((fault, i) => {
    const until = injected[i + 1]?.startedAt ?? Infinity
    const from = struckAt(fault)
    const hit = new Set(fault.affected)
    let lo = 0
    let hi = timed.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (timed[mid]!.sentAt! < from) lo = mid + 1
      else hi = mid
    }
    let first: number | undefined
    for (let j = lo; j < timed.length && timed[j]!.sentAt! < until; j++) {
      const c = timed[j]!
      if (hit.size > 0 && !hit.has(c.partition)) continue
      if (first === undefined || c.at! < first) first = c.at!
    }
    return { fault, ms: first === undefined ? undefined : first - from }
  })
}

/**
 * When the fault took the partitions from their clients. A move is asked at
 * startedAt, but its partition is served as before while the new broker
 * catches up; the leadership changes hands when the move ends (healedAt),
 * so that is when its clients have to follow.
 */
function struckAt(fault: FaultRecord): number {
  return fault.name === 'move-partition' ? fault.healedAt : fault.startedAt
}

/** Nearest-rank percentile of sorted numbers. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

export interface FailoverStats {
  name: FaultName | 'all'
  faults: number
  /** Faults after which no confirm on their partitions came before the next fault. */
  unrecovered: number
  p50: number | undefined
  p99: number | undefined
  max: number | undefined
}

/** Per fault kind (in first-seen order), then over all faults. */
export function failoverStats(times: readonly Failover[]): FailoverStats[] {
  const stat = (name: FailoverStats['name'], list: readonly Failover[]): FailoverStats => {
    const ms = list.flatMap((f) => (f.ms === undefined ? [] : [f.ms])).sort((a, b) => a - b)
    return { name, faults: list.length, unrecovered: list.length - ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms[ms.length - 1] }
  }
  const names = [...new Set(times.map((t) => t.fault.name))]
  return [...names.map((n) => stat(n, times.filter((t) => t.fault.name === n))), stat('all', times)]
}
