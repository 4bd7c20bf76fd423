/**
 * bench/lib/percentiles.mjs: the micro benches' exact percentiles read the
 * sorted samples at each rank, whatever order they came in, and no samples
 * give zeros rather than NaN.
 */
import t from 'tap'
import { exactPercentiles } from '../../bench/lib/percentiles.mjs'

t.test('a hundred samples, shuffled: each percentile is the sample at its rank', async (t) => {
  const samples = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1)
  t.same(exactPercentiles(samples), { count: 100, mean: 50.5, p50: 51, p90: 91, p99: 100, p999: 100, max: 100 })
})

t.test('one sample is every percentile', async (t) => {
  t.same(exactPercentiles([7]), { count: 1, mean: 7, p50: 7, p90: 7, p99: 7, p999: 7, max: 7 })
})

t.test('no samples: zeros', async (t) => {
  t.same(exactPercentiles([]), { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 })
})
