/**
 * Exact percentiles of a few thousand samples, for the micro benches: the
 * samples sorted (in place) and read at each rank. lib/histogram.mjs's HDR
 * summary rounds a percentile up to its bucket's top, which for a few
 * thousand samples can put p99 above the max. No samples: every figure 0.
 */
export function exactPercentiles(samples) {
  if (samples.length === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 }
  samples.sort((a, b) => a - b)
  const at = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))]
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length
  return { count: samples.length, mean, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: samples.at(-1) }
}
