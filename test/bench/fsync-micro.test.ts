/**
 * bench/micro/fsync.mjs on this machine's temp dir, small: the paced mode
 * (group commit at a fixed cadence, as log-syncer.ts syncs under fsync
 * 'always') reports one append-to-durable time per append, and a bad option
 * is named instead of measured. Asserts shapes only, never speed.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/micro/fsync.mjs')
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 60_000 })

t.test('paced: every append is covered by a sync, and the percentiles are in order', async (t) => {
  const dir = t.testdir({})
  const res = run('--every-ms', '1', '--bytes', '100', '--count', '60', '--dir', dir, '--json')
  t.equal(res.status, 0, res.stderr)
  const r = JSON.parse(res.stdout) as { micro: string; everyMs: number; bytes: number; count: number; p50: number; p90: number; p99: number; max: number }
  t.same([r.micro, r.everyMs, r.bytes, r.count], ['fsync-paced', 1, 100, 60])
  t.ok(r.p50 > 0 && r.p50 <= r.p90 && r.p90 <= r.p99 && r.p99 <= r.max, `p50 ${r.p50} <= p90 ${r.p90} <= p99 ${r.p99} <= max ${r.max}`)
})

t.test('back to back still reports the S1 ceiling', async (t) => {
  const res = run('--count', '10', '--bytes', '1000', '--dir', t.testdir({}), '--json')
  t.equal(res.status, 0, res.stderr)
  const r = JSON.parse(res.stdout) as { micro: string; count: number; s1CeilingMsgsPerSec: number }
  t.same([r.micro, r.count], ['fsync', 10])
  t.ok(r.s1CeilingMsgsPerSec > 0)
})

t.test('a bad cadence is named, not measured', async (t) => {
  const res = run('--every-ms', '0')
  t.equal(res.status, 2)
  t.match(res.stderr, /--every-ms must be an integer from 1 to 1,000/)
  t.equal(res.stdout, '')
})
