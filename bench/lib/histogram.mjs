/**
 * Latency histograms: HDR (hdr-histogram-js) in microseconds, 3 significant
 * digits, up to 120 s. Each consumer process records into its own and sends it
 * to the parent compressed (base64); the parent adds them up, so percentiles
 * are over every message, not averages of per-process percentiles.
 */
import hdr from 'hdr-histogram-js'

const HIGHEST_US = 120_000_000

export function createHistogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 })
}

/** Record one latency in ms; clamped into the trackable range (a clock step can make it negative). */
export function recordMs(h, ms) {
  const us = Math.round(ms * 1000)
  h.recordValue(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us)
}

export const encodeHistogram = (h) => hdr.encodeIntoCompressedBase64(h)

/** One histogram holding every encoded one (missing or empty ones are skipped). */
export function mergeHistograms(encoded) {
  const total = createHistogram()
  for (const e of encoded) if (e) total.add(hdr.decodeFromCompressedBase64(e))
  return total
}

/** The percentiles the report shows, in ms; null when nothing was recorded. */
export function latencySummary(h) {
  if (h.totalCount === 0) return null
  const at = (p) => h.getValueAtPercentile(p) / 1000
  return { count: h.totalCount, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: h.maxValue / 1000, mean: h.mean / 1000 }
}
