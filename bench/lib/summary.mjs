/**
 * From run records (what run.mjs prints as JSON lines) to what people read:
 * each run's headline figure against its target, and the rows of the final
 * table. Pure functions, shared by the terminal table and RESULTS.md.
 */
import { ms, num } from './format.mjs'

const UNITS = {
  msgsPerSec: (v) => `${num(v)} msgs/s`,
  deliveriesPerSec: (v) => `${num(v)} deliveries/s`,
  mbPerSec: (v) => `${num(v, 1)} MB/s`,
  p99: (v) => `p99 ${ms(v)} ms`,
  receivedFraction: (v) => `${num(v * 100, 1)}% received`,
}

/**
 * A run's rates from its counts: `unique` records reached each of `groups`
 * groups (`received` deliveries in all) over `seconds` from the first send to
 * the last receive; `sendSeconds` is the senders' own time. A record the
 * client refused (dropped) counts as lost in receivedFraction. Shared by both
 * topologies (workload.mjs, embedded/summary.mjs).
 */
export function rateFigures({ unique, received, groups, size, seconds, sent, dropped, sendSeconds }) {
  return {
    receivedFraction: sent + dropped > 0 && groups > 0 ? unique / (sent + dropped) : null,
    seconds,
    msgsPerSec: seconds ? unique / seconds : null,
    deliveriesPerSec: seconds ? received / seconds : null,
    mbPerSec: seconds ? (received * size) / seconds / 1e6 : null,
    sendSeconds,
    sentPerSec: sendSeconds ? sent / sendSeconds : null,
  }
}

/** The number a run is judged by. */
export function headlineValue(r) {
  if (r.metric === 'p99') return r.latency?.p99 ?? null
  return r[r.metric] ?? null
}

export function headlineText(r) {
  if (r.outcome === 'not available') return 'not available'
  if (r.outcome === 'failed') return 'failed'
  const v = headlineValue(r)
  if (v === null) return 'n/a'
  // Telemetry: how much arrived says little without the rate it was offered at.
  if (r.metric === 'receivedFraction' && typeof r.datagramsPerSec === 'number') return `${UNITS.receivedFraction(v)}, ${num(r.datagramsPerSec)} datagrams/s`
  return UNITS[r.metric](v)
}

/** 'met', 'missed' or '' (no target, or nothing measured). */
export function targetStatus(r) {
  const v = headlineValue(r)
  if (!r.target || v === null) return ''
  const met = r.target.below ? v < r.target.value : v >= r.target.value
  return met ? 'met' : 'missed'
}

export const TABLE_HEADER = ['Scenario', 'Run', 'Result', 'Target', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'Received', 'RSS MiB', 'CPU s', 'Outcome']

export function tableRow(r) {
  const l = r.latency
  const fraction = r.receivedFraction === null || r.receivedFraction === undefined ? 'n/a' : `${num(r.receivedFraction * 100, 1)}%`
  const status = targetStatus(r)
  return [
    `${r.scenario} ${r.name}`,
    r.variant,
    headlineText(r),
    r.target ? `${r.target.text}${status ? ` (${status})` : ''}` : '',
    ms(l?.p50),
    ms(l?.p99),
    ms(l?.p999),
    ms(l?.max),
    fraction,
    num(r.broker?.peakRssMiB, 0),
    num(r.broker?.cpuSeconds, 1),
    r.outcome + (r.error ? `: ${r.error.split('\n')[0]}` : ''),
  ]
}

/** Median and spread of one figure over repeated runs of the same scenario and variant. */
export function spread(values) {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b)
  if (v.length === 0) return null
  const median = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
  return { n: v.length, min: v[0], median, max: v[v.length - 1], spreadPct: median > 0 ? ((v[v.length - 1] - v[0]) / median) * 100 : 0 }
}

/**
 * CPU microseconds per message, from CPU time (not wall time), so it holds up
 * better than throughput on a busy machine: broker (all threads), its gateway
 * (main) thread, its other threads (workers, GC helpers, libuv), the sending
 * processes per message sent, the consuming processes per delivery.
 */
export function cpuPerMessage(r) {
  const messages = r.groups > 0 ? r.received / r.groups : 0
  const per = (seconds, n) => (typeof seconds === 'number' && n > 0 ? (seconds * 1e6) / n : null)
  const b = r.broker ?? {}
  const other = typeof b.cpuSeconds === 'number' && typeof b.mainThreadCpuSeconds === 'number' ? b.cpuSeconds - b.mainThreadCpuSeconds : null
  return {
    broker: per(b.cpuSeconds, messages),
    gateway: per(b.mainThreadCpuSeconds, messages),
    otherThreads: per(other, messages),
    sender: per(r.clients?.senderCpuSeconds, r.sent),
    consumer: per(r.clients?.consumerCpuSeconds, r.received),
  }
}

/** What the observer's figures mean, and the reading to compare them with (an idle 2-core machine). */
export const TIMER_LATENESS_NOTE = 'how late a 1 ms timer fired in a process doing nothing else during the run; on an idle machine its p99 is ~0.15 ms'

/**
 * Lines for the terminal after the table: the observer's timer lateness beside
 * each latency-target run's own p99 (a slow broker and a noisy machine look
 * alike in p99 alone), then one note covering the other runs. Runs recorded
 * without an observer are left out; no lines when none has one.
 */
export function timerLatenessLines(records) {
  const observed = records.filter((r) => r.timerLateness)
  if (observed.length === 0) return []
  const judgedOnLatency = (r) => r.target?.below === true
  const lines = observed
    .filter(judgedOnLatency)
    .map((r) => {
      const t = r.timerLateness
      return `machine timer lateness during ${r.scenario} ${r.variant}: p99 ${ms(t.p99)} ms, p99.9 ${ms(t.p999)} ms, max ${ms(t.max)} ms (the run's own p99 ${ms(r.latency?.p99)} ms)`
    })
  const others = spread(observed.filter((r) => !judgedOnLatency(r)).map((r) => r.timerLateness.p99))
  const rest = others ? `; the other runs: p99 ${ms(others.min)}${others.n > 1 ? `–${ms(others.max)}` : ''} ms` : ''
  lines.push(`(timer lateness: ${TIMER_LATENESS_NOTE}${rest}; each run's figures are timerLateness in --json)`)
  return lines
}
