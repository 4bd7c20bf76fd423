/**
 * bench/micro/thread-wake.mjs, small: each hop it measures (a syscall, a
 * request to the libuv pool, a message to a worker thread and back) reports
 * every sample in ordered percentiles, an answer never comes back sooner
 * than its call returned, and a bad option is named instead of measured.
 * Asserts shapes only, never speed.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/micro/thread-wake.mjs')
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 60_000 })

type Summary = { count: number; p50: number; p90: number; p99: number; max: number }

t.test('every hop is sampled, in order, and answered no sooner than called', async (t) => {
  const res = run('--count', '25', '--gap-ms', '1', '--json')
  t.equal(res.status, 0, res.stderr)
  const r = JSON.parse(res.stdout) as Record<string, unknown>
  t.same([r.micro, r.gapMs], ['thread-wake', 1])
  for (const key of ['syscallUs', 'poolCallUs', 'poolAnsweredUs', 'workerCallUs', 'workerRoundTripUs']) {
    const s = r[key] as Summary
    t.equal(s.count, 25, `${key}: every sample`)
    t.ok(s.p50 > 0 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max, `${key}: p50 ${s.p50} <= p90 ${s.p90} <= p99 ${s.p99} <= max ${s.max}`)
  }
  const at = (key: string) => r[key] as Summary
  t.ok(at('poolAnsweredUs').max >= at('poolCallUs').p50, 'a pool request is answered after its call returns')
  t.ok(at('workerRoundTripUs').max >= at('workerCallUs').p50, 'an echo comes back after its post returns')
})

t.test('the table names each hop', async (t) => {
  const res = run('--count', '10', '--gap-ms', '0')
  t.equal(res.status, 0, res.stderr)
  t.match(res.stdout, /10 samples each, 0 ms apart/)
  for (const name of ['fstatSync (a syscall)', 'fs.fstat to the pool: answered', 'postMessage to a worker: echoed']) t.match(res.stdout, name)
})

t.test('a bad option is named, not measured', async (t) => {
  const few = run('--count', '5')
  t.equal(few.status, 2)
  t.match(few.stderr, /--count must be an integer from 10 to 100,000/)
  t.equal(few.stdout, '')
  const gap = run('--gap-ms', '500')
  t.equal(gap.status, 2)
  t.match(gap.stderr, /--gap-ms must be an integer from 0 to 100/)
})
