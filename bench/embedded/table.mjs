/**
 * The embedded topology's table, for the terminal and RESULTS.md (pure
 * functions): one row per run with the broker and what its confirm means, and
 * on skiffmq's row its ratio to the best other broker of the same scenario,
 * variant and repeat (S5 and any run judged by p99: the lowest p99 is the best).
 */
import { ms, num } from '../lib/format.mjs'
import { headlineText, headlineValue } from '../lib/summary.mjs'

export const EMBEDDED_HEADER = ['Scenario', 'Run', 'Broker', 'Durability', 'Result', 'skiffmq / best other', 'p50 ms', 'p99 ms', 'Received', 'RSS MiB', 'CPU s', 'Outcome']

const lowerIsBetter = (r) => r.metric === 'p99'
const sameRun = (a, b) => a.scenario === b.scenario && a.variant === b.variant && a.repeat === b.repeat

/**
 * skiffmq's figure divided by the best other broker's in the same run, e.g.
 * "x1.32 vs redis"; '' on other brokers' rows, and 'n/a' when either side has
 * no figure. For p99 the ratio is still skiffmq / best, so below 1 is better.
 */
export function ratioText(r, records) {
  if (r.broker !== 'skiffmq') return ''
  const others = records.filter((o) => o.broker !== 'skiffmq' && sameRun(o, r))
  if (others.length === 0) return ''
  const measured = others.filter((o) => o.outcome === 'complete' && headlineValue(o) !== null)
  const mine = r.outcome === 'complete' ? headlineValue(r) : null
  if (measured.length === 0 || mine === null) return 'n/a'
  const best = measured.reduce((a, b) => ((lowerIsBetter(r) ? headlineValue(b) < headlineValue(a) : headlineValue(b) > headlineValue(a)) ? b : a))
  const ratio = mine / headlineValue(best)
  return `x${num(ratio, 2)} vs ${best.broker}${lowerIsBetter(r) ? ' (p99: lower is better)' : ''}`
}

/** Rows for EMBEDDED_HEADER; `records` gives the other brokers' runs for the ratio. */
export function embeddedRow(r, records) {
  const l = r.latency
  const fraction = r.receivedFraction === null || r.receivedFraction === undefined ? 'n/a' : `${num(r.receivedFraction * 100, 1)}%`
  const outcome = r.outcome === 'not available' ? `not available: ${r.unavailable}` : r.outcome + (r.error ? `: ${r.error.split('\n')[0]}` : '')
  return [
    `${r.scenario} ${r.name}`,
    r.variant,
    r.broker,
    r.durability ?? '',
    headlineText(r),
    ratioText(r, records),
    ms(l?.p50),
    ms(l?.p99),
    fraction,
    num(r.server?.peakRssMiB, 0),
    num(r.server?.cpuSeconds, 1),
    outcome,
  ]
}

export const embeddedRows = (records) => records.map((r) => embeddedRow(r, records))
