/**
 * bench/micro/group-saves.mjs on this machine's temp dir, small: every
 * partition's group is saved on each round (each save timed to durable),
 * the log's fdatasyncs beside them are timed, the temp dir is left empty,
 * and a bad option is named instead of measured. Asserts shapes only, never
 * speed.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/micro/group-saves.mjs')
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 60_000 })

interface Timed {
  count: number
  p50: number
  p99: number
  max: number
  perSecond: number
}

t.test('each round saves every partition\'s group in place, beside a timed log', async (t) => {
  const dir = t.testdir({})
  const res = run('--partitions', '6', '--seconds', '1', '--every-ms', '100', '--dir', dir, '--json')
  t.equal(res.status, 0, res.stderr)
  const r = JSON.parse(res.stdout) as { micro: string; partitions: number; everyMs: number; inPlace: boolean; saves: Timed; logDatasync: Timed }
  t.same([r.micro, r.partitions, r.everyMs, r.inPlace], ['group-saves', 6, 100, true])
  t.ok(r.saves.count >= 6, `at least one round of 6 saves (${r.saves.count})`)
  for (const [name, x] of [['saves', r.saves], ['log fdatasync', r.logDatasync]] as const) {
    t.ok(x.count > 0 && x.p50 > 0 && x.p50 <= x.p99 && x.p99 <= x.max, `${name}: p50 ${x.p50} <= p99 ${x.p99} <= max ${x.max}`)
  }
  t.same(readdirSync(dir), [], 'the temp files are gone')
})

t.test('a bad partition count is named, not measured', async (t) => {
  const res = run('--partitions', '0')
  t.equal(res.status, 2)
  t.match(res.stderr, /--partitions must be an integer from 1 to 4,096/)
  t.equal(res.stdout, '')
})
