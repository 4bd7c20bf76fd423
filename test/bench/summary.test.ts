import t from 'tap'
// The bench is plain JavaScript (it runs without a build step); tap's loader imports it as is.
import { headlineText, headlineValue, spread, tableRow, targetStatus, TABLE_HEADER } from '../../bench/lib/summary.mjs'

const base = { scenario: 'S1', name: 'durable-ack', variant: '200,000 x 128 B', outcome: 'complete', broker: { peakRssMiB: 120.4, cpuSeconds: 2.25 } }

t.test('a throughput target is met at or above its value', async (t) => {
  const target = { value: 350_000, text: '>= 350,000 msgs/s' }
  t.equal(targetStatus({ ...base, metric: 'msgsPerSec', target, msgsPerSec: 350_000 }), 'met')
  t.equal(targetStatus({ ...base, metric: 'msgsPerSec', target, msgsPerSec: 90_000 }), 'missed')
  t.equal(targetStatus({ ...base, metric: 'msgsPerSec', target, msgsPerSec: null }), '')
  t.equal(targetStatus({ ...base, metric: 'msgsPerSec', msgsPerSec: 5 }), '')
})

t.test('a latency target is met strictly below its value and is judged on p99', async (t) => {
  const target = { value: 2, text: 'p99 < 2 ms', below: true }
  const r = (p99: number) => ({ ...base, metric: 'p99', target, latency: { p50: 0.5, p99 } })
  t.equal(headlineValue(r(1.5)), 1.5)
  t.equal(targetStatus(r(1.5)), 'met')
  t.equal(targetStatus(r(2)), 'missed')
  t.equal(headlineText(r(13.84)), 'p99 13.8 ms')
})

t.test('headline text names the unit, or why there is no figure', async (t) => {
  t.equal(headlineText({ ...base, metric: 'msgsPerSec', msgsPerSec: 91234.4 }), '91,234 msgs/s')
  t.equal(headlineText({ ...base, metric: 'deliveriesPerSec', deliveriesPerSec: 100 }), '100 deliveries/s')
  t.equal(headlineText({ ...base, metric: 'mbPerSec', mbPerSec: 111.94 }), '111.9 MB/s')
  t.equal(headlineText({ ...base, metric: 'receivedFraction', receivedFraction: 0.9991 }), '99.9% received')
  t.equal(headlineText({ ...base, metric: 'receivedFraction', receivedFraction: 0.5, datagramsPerSec: 2500.4 }), '50.0% received, 2,500 datagrams/s')
  t.equal(headlineText({ ...base, metric: 'receivedFraction', outcome: 'not available' }), 'not available')
  t.equal(headlineText({ ...base, metric: 'msgsPerSec', outcome: 'failed' }), 'failed')
})

t.test('a table row has one cell per header and carries the first line of an error', async (t) => {
  const row = tableRow({ ...base, metric: 'msgsPerSec', outcome: 'failed', error: 'broker exited\nstack...' })
  t.equal(row.length, TABLE_HEADER.length)
  t.equal(row.at(-1), 'failed: broker exited')
  t.equal(row[9], '120')
  t.equal(row[10], '2.3')
})

t.test('spread gives median and range of repeated runs', async (t) => {
  t.same(spread([90, 150, 100]), { n: 3, min: 90, median: 100, max: 150, spreadPct: 60 })
  t.equal(spread([1, 3]).median, 2)
  t.equal(spread([null, undefined]), null)
})
