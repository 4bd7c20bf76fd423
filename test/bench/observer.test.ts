/**
 * The bench's observer (how late a 1 ms timer fires while a run goes on):
 * the role as a real child process, and how its figures are shown in the
 * terminal lines and RESULTS.md. Asserts counts and shapes, never speed.
 */
import t from 'tap'
// The bench is plain JavaScript (it runs without a build step); tap's loader imports it as is.
import { startRole } from '../../bench/lib/role-process.mjs'
import { mergeHistograms } from '../../bench/lib/histogram.mjs'
import { timerLatenessLines } from '../../bench/lib/summary.mjs'
import { resultsMarkdown, schedulingNoiseSection } from '../../bench/lib/results.mjs'

t.test('the observer records one lateness per tick from go until stop', async (t) => {
  const observer = startRole('observer', { timeLimitMs: 20_000 }, { execArgv: [] })
  t.teardown(() => observer.kill())
  await observer.ready
  observer.send({ t: 'go' })
  // Some ticks must have fired before stop; their number depends on the machine, not asserted.
  await new Promise((r) => setTimeout(r, 100))
  observer.send({ t: 'stop' })
  const result = await observer.result
  t.ok(result.ticks > 0, `ticks ${result.ticks}`)
  const h = mergeHistograms([result.histogram])
  t.equal(h.totalCount, result.ticks, 'one sample per tick')
})

t.test('the observer ends on its own at its time limit when no stop comes', async (t) => {
  const observer = startRole('observer', { timeLimitMs: 50 }, { execArgv: [] })
  t.teardown(() => observer.kill())
  await observer.ready
  observer.send({ t: 'go' })
  const result = await observer.result
  t.equal(typeof result.ticks, 'number')
  t.equal(mergeHistograms([result.histogram]).totalCount, result.ticks)
})

const lateness = (p99: number) => ({ count: 3000, p50: 0.05, p90: 0.1, p99, p999: 3.9, max: 6, mean: 0.1 })
const s5 = {
  scenario: 'S5',
  name: 'fixed-rate-latency',
  variant: '10,000/s for 10 s',
  metric: 'p99',
  target: { value: 2, text: 'p99 < 2 ms', below: true },
  outcome: 'complete',
  latency: { p50: 0.8, p90: 2, p99: 8.57, p999: 12, max: 14, mean: 1 },
  timerLateness: lateness(1.02),
}
const s1 = (p99?: number) => ({
  scenario: 'S1',
  name: 'durable-ack',
  variant: '50,000 x 128 B',
  metric: 'msgsPerSec',
  target: { value: 350_000, text: '>= 350,000 msgs/s' },
  outcome: 'complete',
  msgsPerSec: 100_000,
  latency: { p50: 10, p90: 20, p99: 30, p999: 40, max: 50, mean: 12 },
  timerLateness: p99 === undefined ? undefined : lateness(p99),
})

t.test('the terminal shows the lateness beside a latency-target run, and a note for the rest', async (t) => {
  const lines = timerLatenessLines([s1(0.4), s5, s1(1.5)])
  t.equal(lines.length, 2)
  t.equal(lines[0], "machine timer lateness during S5 10,000/s for 10 s: p99 1.02 ms, p99.9 3.90 ms, max 6.00 ms (the run's own p99 8.57 ms)")
  t.match(lines[1], /the other runs: p99 0\.400–1\.50 ms/)
  t.same(timerLatenessLines([s1()]), [], 'nothing for runs recorded without an observer')
  t.equal(timerLatenessLines([s5]).length, 2, 'the note comes even with no other run')
})

t.test('RESULTS.md has the scheduling-noise table, with a dash for runs without an observer', async (t) => {
  const section = schedulingNoiseSection([s5, s1()]).join('\n')
  t.match(section, /## Machine scheduling noise/)
  t.match(section, /\| S5 fixed-rate-latency \| 10,000\/s for 10 s \| 1\.02 \| 3\.90 \| 6\.00 \| 8\.57 \|/)
  t.match(section, /\| S1 durable-ack \| 50,000 x 128 B \| — \| — \| — \| 30\.0 \|/)
  t.match(section, /recorded before the bench had the observer/)
  t.notMatch(schedulingNoiseSection([s5]).join('\n'), /recorded before/)
  const md = resultsMarkdown([s1(), s5], { mode: 'full', commit: 'abc', command: 'x', machine: { cpu: 'c', cores: 2, memoryGiB: 1, platform: 'p' } })
  t.match(md, /## Machine scheduling noise/, 'part of the page, old records included')
})
