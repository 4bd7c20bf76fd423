/**
 * Feeds the panel's RateHistory from the counters the broker already keeps
 * for Prometheus (metrics.ts): skiff_messages_published_total per topic, and
 * skiff_messages_delivered_total and skiff_messages_acked_total summed over
 * the groups of each topic. It only reads them (through the registry, as a
 * scrape would), so the panel adds no counting to the hot path: one read of
 * three counters every interval, whether or not a page is open.
 *
 * Topics past --max-metric-topics are already folded into `_other` by those
 * counters; RateHistory folds past its own table size the same way.
 */
import type { Counter, Registry } from 'prom-client'
import { RateHistory, type TopicTotals } from './rate-history.js'

/** One sample every 5 s for the last 15 minutes. */
export const RATE_INTERVAL_MS = 5_000
export const RATE_SAMPLES = 180
/** Topics with a series of their own (the default --max-metric-topics; a larger label budget still gets 500 here). */
export const MAX_RATE_TOPICS = 500

const COUNTERS = ['skiff_messages_published_total', 'skiff_messages_delivered_total', 'skiff_messages_acked_total'] as const

/** Totals per topic label of the three counters, read from the registry. */
export async function counterTotals(registry: Registry): Promise<Map<string, TopicTotals>> {
  const totals = new Map<string, [number, number, number]>()
  for (let k = 0; k < COUNTERS.length; k++) {
    const metric = registry.getSingleMetric(COUNTERS[k]!) as Counter | undefined
    if (!metric) continue
    for (const { value, labels } of (await metric.get()).values) {
      const topic = String(labels.topic ?? '')
      if (topic === '') continue
      let row = totals.get(topic)
      if (!row) totals.set(topic, (row = [0, 0, 0]))
      row[k]! += value
    }
  }
  return totals
}

export class RateSampler {
  readonly history: RateHistory
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly registry: Registry,
    options: { intervalMs?: number; samples?: number; maxTopics?: number } = {},
  ) {
    this.history = new RateHistory({
      intervalMs: options.intervalMs ?? RATE_INTERVAL_MS,
      samples: options.samples ?? RATE_SAMPLES,
      maxTopics: Math.max(1, options.maxTopics ?? MAX_RATE_TOPICS),
    })
  }

  /** Take the baseline now and a sample every interval until stop(). */
  start(): void {
    void this.sample()
    this.timer = setInterval(() => void this.sample(), this.history.options.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private async sample(): Promise<void> {
    const time = Date.now()
    this.history.record(time, await counterTotals(this.registry))
  }
}
