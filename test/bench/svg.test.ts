import t from 'tap'
// The bench is plain JavaScript (it runs without a build step); tap's loader imports it as is.
import { axis, barChart, compact, escapeXml, lineChart } from '../../bench/lib/svg.mjs'

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length

t.test('compact numbers for axis and bar labels', async (t) => {
  t.equal(compact(1500), '1.5k')
  t.equal(compact(2_000_000), '2M')
  t.equal(compact(350_000), '350k')
  t.equal(compact(0.25), '0.25')
  t.equal(compact(12.345), '12.3')
})

t.test('a log axis spans whole powers of ten around the data', async (t) => {
  const a = axis([1040, 92_000, 1_000_000], true)
  t.equal(a.lo, 1000)
  t.equal(a.hi, 1_000_000)
  t.same(a.ticks, [1000, 10_000, 100_000, 1_000_000])
  t.equal(a.at(1000), 0)
  t.equal(a.at(1_000_000), 1)
  t.ok(Math.abs(a.at(31_622.8) - 0.5) < 1e-4)
})

t.test('a linear axis starts at 0 and ends on a round step above the data', async (t) => {
  const a = axis([37_255, 146_000], false)
  t.equal(a.lo, 0)
  t.equal(a.hi, 150_000)
  t.same(a.ticks, [0, 50_000, 100_000, 150_000])
})

t.test('bar chart: one bar per value, a marker per target, n/a for missing values, text escaped', async (t) => {
  const svg = barChart({
    title: 'Throughput <median>',
    unit: 'msgs/s',
    log: true,
    series: [{ name: 'measured' }],
    categories: [
      { label: 'S1 durable-ack', values: [92_000], target: 350_000 },
      { label: 'S2 fire & forget', values: [106_000], target: 1_000_000 },
      { label: 'S7 udp', values: [null], note: 'not available' },
    ],
  })
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.ok(svg.trimEnd().endsWith('</svg>'))
  // 1 background + 1 legend swatch + 2 bars
  t.equal(count(svg, /<rect /g), 4)
  t.equal(count(svg, /stroke="#c53030"/g), 3, 'two target markers and the legend key')
  t.match(svg, /Throughput &lt;median&gt;/)
  t.match(svg, /S2 fire &amp; forget/)
  t.match(svg, />not available</)
  t.match(svg, />92k</)
})

t.test('grouped bars: one bar per series and category', async (t) => {
  const svg = barChart({
    title: 'Latency',
    unit: 'ms',
    log: true,
    series: [{ name: 'p50' }, { name: 'p99' }, { name: 'p99.9' }],
    categories: [
      { label: 'S1', values: [1, 10, 100] },
      { label: 'S5', values: [0.5, 2.5, 9] },
    ],
  })
  t.equal(count(svg, /<rect /g), 1 + 3 + 6)
})

t.test('line chart: a polyline per series with two or more points, a dot per point', async (t) => {
  const svg = lineChart({
    title: 'Pool scaling',
    xLabel: 'workers',
    yLabel: 'per second',
    xs: [1, 2, 3, 4],
    series: [
      { name: 'S1', values: [40_000, 50_000, null, 52_000] },
      { name: 'S3', values: [80_000, null, null, null] },
    ],
  })
  t.equal(count(svg, /<polyline /g), 1)
  t.equal(count(svg, /<circle /g), 4)
})

t.test('charts are a pure function of their data', async (t) => {
  const spec = { title: 't', unit: 'u', series: [{ name: 'a' }], categories: [{ label: 'x', values: [3] }] }
  t.equal(barChart(spec), barChart(spec))
  t.equal(escapeXml(`a<b>&"c'`), 'a&lt;b&gt;&amp;&quot;c&apos;')
})
