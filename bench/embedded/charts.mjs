/**
 * The embedded topology's charts for RESULTS.md (pure functions of the
 * records, like lib/svg.mjs): per scenario, one bar per broker, the median of
 * its complete runs. Throughput in messages per second (S3: deliveries per
 * second; S6 in messages of 64 KiB; S5 is left out, its rate is fixed) and
 * p99 latency, both on log axes: the brokers differ by an order of magnitude.
 */
import { barChart } from '../lib/svg.mjs'

export const THROUGHPUT_SVG = 'embedded-throughput.svg'
export const LATENCY_SVG = 'embedded-latency.svg'

function median(values) {
  const s = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  return s.length === 0 ? null : s[Math.floor((s.length - 1) / 2)]
}

function grouped(records, value, keep) {
  const rows = records.filter(keep)
  const brokers = [...new Set(rows.map((r) => r.broker))]
  const scenarios = [...new Map(rows.map((r) => [r.scenario, r.name])).entries()]
  return {
    series: brokers.map((name) => ({ name })),
    categories: scenarios.map(([scenario, name]) => ({
      label: `${scenario} ${name}`,
      values: brokers.map((b) => median(rows.filter((r) => r.scenario === scenario && r.broker === b && r.outcome === 'complete').map(value))),
    })),
  }
}

export function embeddedThroughputChart(records) {
  const rate = (r) => (r.scenario === 'S3' ? r.deliveriesPerSec : r.msgsPerSec)
  return barChart({
    title: 'Embedded topology: throughput per broker (median run)',
    unit: 'messages per second (S3: deliveries per second)',
    log: true,
    ...grouped(records, rate, (r) => r.scenario !== 'S5'),
  })
}

export function embeddedLatencyChart(records) {
  return barChart({
    title: 'Embedded topology: publish-to-receive p99 per broker (median run)',
    unit: 'milliseconds',
    log: true,
    ...grouped(records, (r) => r.latency?.p99, (r) => Boolean(r.latency)),
  })
}
