/**
 * The cluster fault suite: a seeded, time-bounded run of faults against
 * three brokers (or more: `brokers`) on three etcd members under a keyed, idempotent, confirmed
 * workload with a consumer group acking, then a check of everything:
 *
 * 1. Start a FaultCluster (every broker's links to etcd and its advertised
 *    address behind proxies), create the topic with replication factor 3 and
 *    minInSync 2, start the workload (workload.ts) through the advertised
 *    addresses.
 * 2. Every `intervalMs` (± half, seeded) inject one fault drawn from `faults`
 *    (faults.ts), heal it, wait for every broker to register again; until
 *    `runMs` has passed. Each fault is logged with its times.
 * 3. Heal everything, keep producing 2 s (so the last fault's failover is
 *    measured), stop, wait for the group to get every confirmed record, stay
 *    quiet `quietMs` (followers catch up), note each partition's leader, stop
 *    the brokers.
 * 4. Read every replica of every partition from the data directories
 *    (replicas.ts), compare them, run the checker (checker.ts) on the
 *    leader's copy, and measure per fault how long confirms and the group's
 *    reading stopped (failover.ts).
 *
 * The same seed replays the same plan (fault kinds, targets among the
 * leaders of the moment, durations) and the same keys. Used by
 * fault-suite.test.ts (short) and bench/cluster-faults/run.mjs (long).
 */
import { seededRandom, sleep } from '../reliability/harness.js'
import { check, confirmedOrderBroken, type CheckReport, type Confirmed, type Finding, type Reordering } from './checker.js'
import { connectDirect } from './broker-cluster.js'
import { deliveryEvents, failoverStats, failoverTimes, type Failover, type FailoverStats } from './failover.js'
import { FaultCluster, type Placement } from './fault-cluster.js'
import { FAULT_NAMES, inject, NEEDS_REPLICAS, NEEDS_SPARE_BROKER, type FaultName, type FaultRecord } from './faults.js'
import { compareReplicas, readReplicas, type ReplicaReport } from './replicas.js'
import { startWorkload, type Workload } from './workload.js'
import type { Client } from '../../clients/index.js'
import { deadLetterTopicOf } from '../../protocol/index.js'

export interface SuiteOptions {
  seed: number
  /** How long faults are injected (the run itself takes longer: start, drain, check). */
  runMs: number
  /** Mean time between the end of one fault and the start of the next. Default 4 s. */
  intervalMs?: number
  /** Which faults to draw from. Default: all, but those that need replicas when the topic has one copy, or a spare broker when every broker has one. */
  faults?: readonly FaultName[]
  partitions?: number
  /** Brokers in the cluster (default 3): more than the 3 copies lets partitions move (move-partition). */
  brokers?: number
  /** A fault injected first, before the seeded draws (a short run then has at least one of that kind). */
  opening?: FaultName
  producers?: number
  consumers?: number
  keys?: number
  /** Publishes per second per producer. Default 100. */
  rate?: number
  /** Quiet time after the group got everything, before the brokers stop. Default 3 s. */
  quietMs?: number
  /** Each progress line (faults with their times). Default: none. */
  log?: (line: string) => void
  /** Leave the brokers' data dirs in place when records stayed undelivered (the run says where), to read the group state they saved. */
  keepDataOnUndelivered?: boolean
}

export interface SuiteResult {
  seed: number
  topic: string
  /** Copies per partition the cluster placed (METADATA replicas). */
  replicationFactor: number
  /** Faults asked for but left out, with why. */
  skipped: { name: FaultName; why: string }[]
  faults: FaultRecord[]
  attempted: number
  confirmed: number
  failed: number
  /** Why publishes failed: each distinct error (digits masked) with its count, most frequent first. */
  failureKinds: { error: string; count: number }[]
  reconnects: { producers: number; consumers: number }
  /** Every confirmed record reached the group before the deadline (DRAIN_MS after the last fault healed). */
  drained: boolean
  /**
   * When it did not: how many confirmed records the group lacked at that
   * deadline. The check (`check.undelivered`) counts those still missing
   * LATE_MS later, past the brokers' ack and idle timeouts: the difference
   * arrived late (a delivery held for a connection that died unseen, given
   * again once a timeout let it go), the rest never.
   */
  undeliveredAtDeadline?: number
  check: CheckReport
  /** Of `check.reordered`: records stored after a record of the same producer and key that was sent only once they were confirmed (what retries cannot excuse). */
  orderBrokenAfterConfirm: Finding<Reordering>
  /** Delivered to the group but never confirmed to its producer (allowed: a publish can time out after it was stored). */
  deliveredUnconfirmed: number
  /**
   * Confirmed records found in the dead-letter topic (any replica): delivered
   * maxDeliveries times (5) without an ack. The workload acks everything it
   * gets, so each one is a record the consumers kept not getting; `undelivered`
   * says how many of them never reached a consumer at all.
   */
  deadLettered: { count: number; undelivered: number }
  replicas: Omit<ReplicaReport, 'stored' | 'reference'>
  failover: Failover[]
  failoverStats: FailoverStats[]
  /** From each fault to the group's first delivery of a record sent after it to a partition it hit. */
  deliveryFailoverStats: FailoverStats[]
  durationMs: number
  /** What each broker logged at warn or above, over all its runs (for a report of what went wrong). */
  brokerLogs: Map<number, Record<string, unknown>[]>
  /** The workload's own log: every failure, and the confirms of ids the check found wrong. */
  failures: { id: string; error: string }[]
  /** The summary table, as printed. */
  table(): string
  /** A JSON-able record of the run (bench/cluster-faults/results.jsonl). */
  json(): Record<string, unknown>
}

const TOPIC = 'faults'
const GROUP = 'fault-suite'
/** How long the group has to receive every confirmed record once the faults are over. */
const DRAIN_MS = 30_000
/**
 * How much longer the run waits when the group has not: past the brokers'
 * default ack timeout (30 s) and idle timeout (30 s; a silent connection is
 * dropped within 1.25 times it), after which whatever a dead connection held
 * is delivered again.
 */
const LATE_MS = 45_000

export async function runFaultSuite(opts: SuiteOptions): Promise<SuiteResult> {
  const began = Date.now()
  const log = opts.log ?? (() => {})
  const random = seededRandom(opts.seed)
  const partitions = opts.partitions ?? 6
  const cluster = await FaultCluster.start({ brokers: opts.brokers ?? 3, args: ['--group-commit-ms', '20', '--no-udp'] })
  const clock = () => `${((Date.now() - began) / 1000).toFixed(1).padStart(6)} s`
  let keepData = false
  try {
    const admin = await connectDirect(cluster.brokers[0]!.runner.url, { name: 'fault-suite' })
    await admin.admin.createTopic(TOPIC, { partitions, replicationFactor: 3, minInSync: 2 })
    const placed = (await admin.admin.metadata([TOPIC])).topics[0]?.partitions ?? []
    await admin.close()
    const replicationFactor = Math.min(...placed.map((p) => p.replicas.length))
    const wanted = opts.faults ?? FAULT_NAMES
    const skipped = replicationFactor > 1 || opts.faults ? [] : wanted.filter((f) => NEEDS_REPLICAS.includes(f)).map((name) => ({ name, why: 'the cluster keeps one copy of each partition: a wiped disk loses what it confirmed' }))
    if (!opts.faults && cluster.brokers.length <= replicationFactor) {
      skipped.push(...wanted.filter((f) => NEEDS_SPARE_BROKER.includes(f)).map((name) => ({ name, why: 'every broker holds a copy of every partition: there is nowhere to move one' })))
    }
    const plan = wanted.filter((f) => !skipped.some((s) => s.name === f))
    log(`${clock()}  seed ${opts.seed}; ${partitions} partitions, ${replicationFactor} cop${replicationFactor === 1 ? 'y' : 'ies'} each; faults: ${plan.join(', ')}`)
    for (const s of skipped) log(`${clock()}  left out ${s.name}: ${s.why}`)

    const w = await startWorkload({
      url: cluster.seeds,
      topic: TOPIC,
      producers: opts.producers ?? 3,
      consumers: opts.consumers ?? 2,
      group: GROUP,
      keys: opts.keys ?? 12,
      rate: opts.rate ?? 100,
      seed: opts.seed,
      connect: { requestTimeoutMs: 25_000, drainTimeoutMs: 5000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } },
    })
    try {
      const faults: FaultRecord[] = []
      const interval = opts.intervalMs ?? 4000
      const faultsUntil = Date.now() + opts.runMs
      while (plan.length > 0) {
        await sleep(Math.floor(interval * (0.5 + random())))
        if (Date.now() >= faultsUntil) break
        const name = opts.opening !== undefined && faults.length === 0 ? opts.opening : plan[Math.floor(random() * plan.length)]!
        log(`${clock()}  ${name} ...  (${w.confirmed.length} confirmed so far)`)
        const f = await inject(name, { cluster, topic: TOPIC, partitions, random })
        faults.push(f)
        const settled = f.settledAt === undefined ? 'NOT all registered within 30 s' : `all registered after ${((f.settledAt - f.healedAt) / 1000).toFixed(1)} s`
        if (f.skipped) log(`${clock()}  ${name} on ${f.target} ${f.skipped}`)
        else log(`${clock()}  ${name} on ${f.target}: struck at ${rel(f.startedAt, began)}, healed at ${rel(f.healedAt, began)}, ${settled}${f.error ? `; ERROR ${f.error}` : ''}`)
        log(`${clock()}  partitions: ${describePlacement(await cluster.placement(TOPIC))}`)
      }

      cluster.healLinks()
      cluster.resumeAll()
      await cluster.waitAllRegistered(30_000)
      await sleep(2000)
      w.stopProducing()
      await w.produced
      log(`${clock()}  produced: ${w.attempted.length} attempted, ${w.confirmed.length} confirmed, ${w.failures.length} failed`)
      const drained = await w.deliveredAll(DRAIN_MS)
      let undeliveredAtDeadline: number | undefined
      if (!drained) {
        undeliveredAtDeadline = undeliveredOf(w).length
        log(`${clock()}  ${undeliveredAtDeadline} confirmed record(s) not delivered within ${DRAIN_MS / 1000} s: waiting ${LATE_MS / 1000} s more`)
        if (!(await w.deliveredAll(LATE_MS))) {
          for (const line of await groupPositionsAt(cluster, w, GROUP)) log(`${clock()}  ${line}`)
          if (opts.keepDataOnUndelivered) keepData = true
        }
      }
      await sleep(opts.quietMs ?? 3000)
      const placement = await cluster.placement(TOPIC)
      await w.close()
      await cluster.stopBrokers()

      const replicaReport = compareReplicas(readReplicas(cluster.brokers, TOPIC, partitions), placement)
      const report = check({ confirmed: w.confirmed, stored: replicaReport.stored, attempted: w.attempted, delivered: w.delivered })
      const confirmedIds = new Set(w.confirmed.map((c) => c.id))
      const deliveredUnconfirmed = new Set(w.delivered.filter((d) => !confirmedIds.has(d.id)).map((d) => d.id)).size
      const deadIds = new Set(readReplicas(cluster.brokers, deadLetterTopicOf(TOPIC), partitions).flatMap((r) => r.records.map((x) => x.id)))
      const deadConfirmed = w.confirmed.filter((c) => deadIds.has(c.id))
      const neverDelivered = new Set(undeliveredOf(w).map((c) => c.id))
      const failover = failoverTimes(faults, w.confirmed)
      const { stored: _stored, reference: _reference, ...replicas } = replicaReport
      const result: SuiteResult = {
        seed: opts.seed,
        topic: TOPIC,
        replicationFactor,
        skipped,
        faults,
        attempted: w.attempted.length,
        confirmed: w.confirmed.length,
        failed: w.failures.length,
        failureKinds: kindsOf(w.failures.map((f) => f.error)),
        reconnects: { ...w.reconnects },
        drained,
        ...(undeliveredAtDeadline === undefined ? {} : { undeliveredAtDeadline }),
        check: report,
        deliveredUnconfirmed,
        deadLettered: { count: deadConfirmed.length, undelivered: deadConfirmed.filter((c) => neverDelivered.has(c.id)).length },
        orderBrokenAfterConfirm: confirmedOrderBroken(w.confirmed, replicaReport.stored),
        replicas,
        failover,
        failoverStats: failoverStats(failover),
        deliveryFailoverStats: failoverStats(failoverTimes(faults, deliveryEvents(w.confirmed, w.delivered))),
        durationMs: Date.now() - began,
        brokerLogs: new Map(cluster.brokers.map((b) => [b.id, b.runner.lines.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal' || (typeof l.level === 'number' && l.level >= 40))])),
        failures: [...w.failures],
        table: () => summaryTable(result),
        json: () => toJson(result, opts),
      }
      return result
    } finally {
      await w.close()
    }
  } finally {
    await cluster.close({ keepData })
    if (keepData) log(`${clock()}  the brokers' data dirs are kept in ${cluster.dir}`)
  }
}

/** The confirmed records no consumer of the group has received so far. */
function undeliveredOf(w: Workload): Confirmed[] {
  const delivered = new Set(w.delivered.map((d) => d.id))
  return w.confirmed.filter((c) => !delivered.has(c.id))
}

/**
 * Where the group stands on each partition that still misses records, as
 * its leader says (GROUP_DESCRIBE), beside the offsets missing there: a
 * committed offset past one of them means the group settled it without a
 * consumer getting it; at or below it, with records in flight, that it was
 * handed to a member that never got it.
 */
async function groupPositionsAt(cluster: FaultCluster, w: Workload, group: string): Promise<string[]> {
  const missing = new Map<number, number[]>()
  for (const c of undeliveredOf(w)) (missing.get(c.partition) ?? missing.set(c.partition, []).get(c.partition)!).push(c.offset)
  let client: Client | undefined
  try {
    client = await connectDirect(cluster.seeds[0]!, { name: 'fault-suite-diagnosis', requestTimeoutMs: 10_000 })
    const state = await client.admin.describeGroup(TOPIC, group)
    return [...missing].map(([partition, offsets]) => {
      const at = state.partitions.find((p) => p.partition === partition)
      return `p${partition} missing offsets ${offsets.slice(0, 10).join(',')}${offsets.length > 10 ? ` (+${offsets.length - 10})` : ''}; group there: ${at ? JSON.stringify(at) : 'no state'} (${state.members} member(s))`
    })
  } catch (err) {
    return [`group positions not read: ${(err as Error).message}`]
  } finally {
    await client?.close()
  }
}

/** `p0 2 (isr 2,1,3)` per partition: who leads and who is in sync, as METADATA says now. */
function describePlacement(placement: Map<number, Placement>): string {
  if (placement.size === 0) return 'no answer'
  return [...placement].sort((a, b) => a[0] - b[0]).map(([p, x]) => `p${p} ${x.leader} (isr ${x.isr.join(',')})`).join(', ')
}

const rel = (t: number, began: number) => `${((t - began) / 1000).toFixed(1)} s`
const msText = (v: number | undefined) => (v === undefined ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: 0 }))

/** The end-of-run table: what was checked, with counts, then failover per fault kind. */
export function summaryTable(r: SuiteResult): string {
  const c = r.check
  const rows: [string, string, string][] = [
    ['seed', String(r.seed), `SKIFF_FAULT_SEED=${r.seed} replays the plan and the keys`],
    ['copies per partition', String(r.replicationFactor), r.skipped.length ? `left out: ${r.skipped.map((s) => s.name).join(', ')}` : ''],
    ['faults', String(r.faults.filter((f) => !f.skipped).length), summarizeFaults(r.faults)],
    ['published', String(r.attempted), `${r.confirmed} confirmed, ${r.failed} failed`],
    ...r.failureKinds.slice(0, 3).map((k): [string, string, string] => ['failed with', String(k.count), k.error]),
    ['confirmed lost', String(c.lost.count), first(c.lost)],
    ['stored twice', String(c.duplicated.count), first(c.duplicated)],
    ['order broken', String(c.reordered.count), first(c.reordered)],
    ['  of which after a confirm', String(r.orderBrokenAfterConfirm.count), `stored behind a record sent after its confirm; ${first(r.orderBrokenAfterConfirm)}`],
    ['acked at another offset', String(c.offsetMismatch.count), first(c.offsetMismatch)],
    ['stored, never published', String(c.unconfirmedSeen.count), first(c.unconfirmedSeen)],
    ['replica offsets differing', String(r.replicas.divergent.count), `${r.replicas.replicas} replicas of ${r.replicas.partitions} partitions; ${first(r.replicas.divergent)}`],
    ['replicas of another length', String(r.replicas.lengthGaps.length), r.replicas.lengthGaps.slice(0, 3).map((g) => `p${g.partition} on ${g.broker}: ${g.records > 0 ? '+' : ''}${g.records}`).join(', ')],
    ['partition dirs off replicas', String(r.replicas.strays.length), r.replicas.strays.slice(0, 3).map((g) => `p${g.partition} on ${g.broker}: ${g.records} records`).join(', ')],
    ['delivered, not stored', String(c.phantoms.count), first(c.phantoms)],
    ['delivered, never confirmed', String(r.deliveredUnconfirmed), 'allowed: a publish may time out after it was stored'],
    ['confirmed, dead-lettered', String(r.deadLettered.count), r.deadLettered.count > 0 ? `${r.deadLettered.undelivered} of them never delivered` : ''],
    ['confirmed, never delivered', String(c.undelivered.count), [undeliveredNote(r), byPartition(c.undelivered.examples), first(c.undelivered)].filter(Boolean).join('; ')],
  ]
  for (const s of r.failoverStats) {
    rows.push([`failover ${s.name}`, `p50 ${msText(s.p50)} ms`, `p99 ${msText(s.p99)} ms, max ${msText(s.max)} ms over ${s.faults} fault(s)${s.unrecovered ? `, ${s.unrecovered} with no confirm before the next` : ''}`])
  }
  for (const s of r.deliveryFailoverStats) {
    rows.push([`reading resumed ${s.name}`, `p50 ${msText(s.p50)} ms`, `p99 ${msText(s.p99)} ms, max ${msText(s.max)} ms${s.unrecovered ? `, ${s.unrecovered} fault(s) with no such delivery before the next` : ''}`])
  }
  const header = ['what', 'found', 'notes']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]) => cells.map((cell, i) => (i === 1 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function kindsOf(errors: readonly string[]): { error: string; count: number }[] {
  const counts = new Map<string, number>()
  for (const e of errors) {
    const k = e.replace(/\d+/g, '#').slice(0, 140)
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return [...counts].map(([error, count]) => ({ error, count })).sort((a, b) => b.count - a.count)
}

/** Whether the group got everything in time, and when it did not, what came late and what never came. */
export function undeliveredNote(r: Pick<SuiteResult, 'drained' | 'undeliveredAtDeadline'> & { check: { undelivered: { count: number } } }): string {
  if (r.drained) return ''
  const missing = r.undeliveredAtDeadline ?? r.check.undelivered.count
  const late = missing - r.check.undelivered.count
  return `the group did not get everything within ${DRAIN_MS / 1000} s: ${missing} missing then, ${late} of them delivered in the ${LATE_MS / 1000} s after (past the brokers' ack and idle timeouts)`
}

/** `partitions 1 ×40, 3 ×26` among the examples kept: where to look first. */
function byPartition(examples: readonly { partition: number }[]): string {
  if (examples.length === 0) return ''
  const counts = new Map<number, number>()
  for (const e of examples) counts.set(e.partition, (counts.get(e.partition) ?? 0) + 1)
  return `partitions ${[...counts].sort((a, b) => a[0] - b[0]).map(([p, n]) => `${p} ×${n}`).join(', ')}`
}

function first(f: { count: number; examples: unknown[] }): string {
  return f.count > 0 ? `first: ${JSON.stringify(f.examples[0])}`.slice(0, 160) : ''
}

function summarizeFaults(faults: readonly FaultRecord[]): string {
  const counts = new Map<string, number>()
  for (const f of faults) if (!f.skipped) counts.set(f.name, (counts.get(f.name) ?? 0) + 1)
  const errors = faults.filter((f) => f.error).length
  const skipped = faults.filter((f) => f.skipped).length
  return [...counts].map(([n, k]) => `${n} ×${k}`).join(', ') + (errors ? `; ${errors} failed to inject` : '') + (skipped ? `; ${skipped} not injected (see the log)` : '')
}

function toJson(r: SuiteResult, opts: SuiteOptions): Record<string, unknown> {
  const c = r.check
  return {
    at: new Date().toISOString(),
    seed: r.seed,
    runMs: opts.runMs,
    intervalMs: opts.intervalMs ?? 4000,
    brokers: opts.brokers ?? 3,
    durationMs: r.durationMs,
    replicationFactor: r.replicationFactor,
    skipped: r.skipped,
    faults: r.faults.map((f) => ({ name: f.name, target: f.target, affected: f.affected, downMs: f.healedAt - f.startedAt, settledMs: f.settledAt === undefined ? null : f.settledAt - f.healedAt, skipped: f.skipped ?? null, error: f.error ?? null })),
    attempted: r.attempted,
    confirmed: r.confirmed,
    failed: r.failed,
    failureKinds: r.failureKinds.slice(0, 10),
    reconnects: r.reconnects,
    lost: c.lost.count,
    duplicated: c.duplicated.count,
    reordered: c.reordered.count,
    orderBrokenAfterConfirm: r.orderBrokenAfterConfirm.count,
    offsetMismatch: c.offsetMismatch.count,
    unconfirmedSeen: c.unconfirmedSeen.count,
    phantoms: c.phantoms.count,
    undelivered: c.undelivered.count,
    ...(r.undeliveredAtDeadline === undefined ? {} : { undeliveredAtDeadline: r.undeliveredAtDeadline }),
    deliveredUnconfirmed: r.deliveredUnconfirmed,
    deadLettered: r.deadLettered,
    replicaDivergent: r.replicas.divergent.count,
    replicaLengthGaps: r.replicas.lengthGaps,
    strayPartitionDirs: r.replicas.strays,
    failover: r.failoverStats,
    deliveryFailover: r.deliveryFailoverStats,
    ok: c.ok && r.replicas.divergent.count === 0 && r.drained,
  }
}
