/**
 * The embedded run's warm-up plan and its figures, shaped like
 * lib/workload.mjs's summarise() where the fields mean the same thing. What
 * differs: `broker` is the adapter's name (skiffmq, nats, ...), so the server
 * process's peak RSS and CPU are under `server`; and the clients are one
 * process, so `clients` has one CPU figure for both threads.
 */
import { WARMUP_BYTES, WARMUP_MESSAGES } from '../lib/workload.mjs'
import { latencySummary } from '../lib/histogram.mjs'
import { rateFigures } from '../lib/summary.mjs'

/**
 * What the multi-process warm-up would send in all, to `<topic>-warmup`: per
 * producer process WARMUP_MESSAGES, no more than it sends measured nor more
 * than WARMUP_BYTES; the runner spreads it over every producer connection.
 */
export function warmupPlan(w) {
  const p = w.producers
  const measured = p.messages ? p.messages * (p.connections ?? 1) : Infinity
  const perProcess = Math.max(1, Math.min(WARMUP_MESSAGES, measured, Math.floor(WARMUP_BYTES / Math.max(1, p.size ?? 128))))
  return { topic: `${w.topic}-warmup`, total: perProcess * (p.processes ?? 1) }
}

const diff = (a, b) => (a === null || b === null ? null : a - b)

/**
 * @param {object} w  the workload
 * @param {{ outcome: string, groups: number, sendResult: object, consumers: object, atGo: object, atEnd: object, applicationCpuSeconds: number }} run
 */
export function embeddedSummary(w, { outcome, groups, sendResult, consumers, atGo, atEnd, applicationCpuSeconds }) {
  const { sent = 0, dropped = 0, confirmed = 0, startedAt, endedAt } = sendResult
  const { received, lastAt } = consumers.counts
  const size = w.producers.size ?? 128
  const seconds = received > 0 && startedAt ? (lastAt - startedAt) / 1000 : null
  const sendSeconds = startedAt && endedAt ? (endedAt - startedAt) / 1000 : null
  const unique = groups > 0 ? received / groups : 0
  return {
    outcome,
    // The workload's settings for the skiffmq server; another broker's mode is in `durability`.
    workers: w.broker?.workers,
    partitions: w.broker?.partitions ?? 1,
    fsync: w.broker?.fsync,
    size,
    sent,
    dropped,
    confirmed,
    received,
    groups,
    ...rateFigures({ unique, received, groups, size, seconds, sent, dropped, sendSeconds }),
    latency: latencySummary(consumers.histogram),
    server: {
      peakRssMiB: atEnd.peakRssMiB,
      cpuSeconds: diff(atEnd.cpuSeconds, atGo.cpuSeconds),
    },
    // The application process (producer thread + consumers), from go to the end.
    clients: { applicationCpuSeconds },
  }
}
