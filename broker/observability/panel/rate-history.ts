/**
 * Publish, deliver and ack rates per topic over the last minutes, for the
 * panel's sparklines (GET /api/rates). A ring of samples: every `intervalMs`
 * the sampler (rate-sampler.ts) hands in the broker's counter totals per
 * topic, and each tracked topic gets one sample of three rates (per second,
 * over that interval).
 *
 * Decisions written down here:
 * - Bounded: at most `samples` samples per topic (the oldest overwritten) and
 *   at most `maxTopics` topics with a series of their own. A topic seen once
 *   the table is full is added into the OTHER series (`_other`, the name the
 *   Prometheus counters fold extra topics into, so both views agree), and the
 *   answer says how many topics were folded in the last sample. Memory is
 *   maxTopics x samples x 3 float32 (500 x 180 x 3 = about 1 MiB).
 * - A topic with no traffic over the whole window gives its slot back: its
 *   series is all zeros, which is what an untracked topic's answer means too.
 *   So the slots follow the topics that are busy now, not the first ones ever
 *   seen, and deleted topics leave.
 * - The first call only takes a baseline: what the counters held before
 *   sampling began (recovery, traffic before the panel existed) is not a
 *   rate over any interval the page shows.
 */
export const OTHER_TOPIC = '_other'

/** Counter totals of one topic: [published, delivered, acked] since the broker started. */
export type TopicTotals = readonly [published: number, delivered: number, acked: number]

export const RATE_KINDS = ['publish', 'deliver', 'ack'] as const

export interface TopicRates {
  topic: string
  /** Per second, oldest first, one per entry of `times`. */
  publish: number[]
  deliver: number[]
  ack: number[]
}

export interface RatesAnswer {
  intervalMs: number
  /** The most samples kept (window = intervalMs x samples). */
  samples: number
  maxTopics: number
  /** Topics with a series of their own now. */
  tracked: number
  /** Topics added into `_other` in the last sample because the table was full. */
  folded: number
  /** End time of each sample (ms since the epoch), oldest first. */
  times: number[]
  topics: TopicRates[]
}

export interface RateHistoryOptions {
  intervalMs: number
  samples: number
  maxTopics: number
}

export class RateHistory {
  private readonly times: Float64Array
  /** Per tracked topic: 3 x samples rates, kind-major (publish ring, deliver ring, ack ring). */
  private readonly series = new Map<string, Float32Array>()
  /** Totals at the previous sample, for every topic the counters know (bounded by their own label budget). */
  private readonly previous = new Map<string, TopicTotals>()
  private previousTime: number | undefined
  /** Index of the next sample to write. */
  private head = 0
  private count = 0
  private foldedLast = 0

  constructor(readonly options: RateHistoryOptions) {
    this.times = new Float64Array(options.samples)
  }

  /** Take one sample: the totals of every topic the counters know, at `time`. */
  record(time: number, totals: ReadonlyMap<string, TopicTotals>): void {
    const since = this.previousTime
    this.previousTime = time
    const deltas = new Map<string, number[]>()
    for (const [topic, now] of totals) {
      const before = this.previous.get(topic)
      this.previous.set(topic, now)
      if (since === undefined) continue
      // A topic new to the counters started from 0 within this interval.
      deltas.set(
        topic,
        now.map((v, i) => Math.max(0, v - (before?.[i] ?? 0))),
      )
    }
    if (since === undefined || time <= since) return
    const seconds = (time - since) / 1000
    const { samples, maxTopics } = this.options
    const at = this.head
    this.times[at] = time
    this.head = (at + 1) % samples
    this.count = Math.min(this.count + 1, samples)
    for (const s of this.series.values()) for (let k = 0; k < 3; k++) s[k * samples + at] = 0
    let folded = 0
    for (const [topic, delta] of deltas) {
      if (delta.every((d) => d === 0)) continue
      let s = this.series.get(topic)
      if (!s && this.series.size < maxTopics) this.series.set(topic, (s = new Float32Array(3 * samples)))
      if (!s) {
        folded++
        s = this.series.get(OTHER_TOPIC)
        // The table is full and has no `_other` yet: it takes the slot of the quietest series.
        if (!s) this.series.set(OTHER_TOPIC, (s = this.evictQuietest()))
      }
      for (let k = 0; k < 3; k++) s[k * samples + at]! += delta[k]! / seconds
    }
    this.foldedLast = folded
    for (const [topic, s] of this.series) if (s.every((v) => v === 0)) this.series.delete(topic)
  }

  /** The series of `topics` (every tracked one when undefined), samples oldest first. */
  query(topics?: readonly string[]): RatesAnswer {
    const { samples, intervalMs, maxTopics } = this.options
    const order = this.order()
    const names = topics ?? [...this.series.keys()].sort()
    return {
      intervalMs,
      samples,
      maxTopics,
      tracked: this.series.size,
      folded: this.foldedLast,
      times: order.map((i) => this.times[i]!),
      topics: names.map((topic) => {
        const s = this.series.get(topic)
        const pick = (k: number) => order.map((i) => (s ? round(s[k * samples + i]!) : 0))
        return { topic, publish: pick(0), deliver: pick(1), ack: pick(2) }
      }),
    }
  }

  /** Ring indexes of the kept samples, oldest first. */
  private order(): number[] {
    const { samples } = this.options
    const first = (this.head - this.count + samples) % samples
    return Array.from({ length: this.count }, (_, i) => (first + i) % samples)
  }

  private evictQuietest(): Float32Array {
    let quietest: string | undefined
    let least = Infinity
    for (const [topic, s] of this.series) {
      const total = s.reduce((a, v) => a + v, 0)
      if (total < least) [quietest, least] = [topic, total]
    }
    const s = this.series.get(quietest!)!
    this.series.delete(quietest!)
    s.fill(0)
    return s
  }
}

/** Rates to two decimals: what a sparkline and its tooltip need, and a third of the JSON. */
function round(v: number): number {
  return Math.round(v * 100) / 100
}
