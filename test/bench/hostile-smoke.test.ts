/**
 * The hostile soak end to end on the built code, shortened: two attacks at
 * once for 2 s beside the well-behaved client. Asserts what the soak reports
 * (every phase has a victim summary, the victim lost nothing, the dead-letter
 * peek was refused, the hoarded requests were bounded), never speed: the soak
 * itself (bench/hostile/run.mjs) measures the latencies.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const built = fs.existsSync(path.join(root, 'dist/cli/skiff.js')) && fs.existsSync(path.join(root, 'dist/clients/index.js'))

interface Summary {
  count: number
  failed: number
  p99?: number
}
interface Phase {
  phase: string
  victim: { confirm: Summary; deliver: Summary; ping: Summary; request: Summary; login: Summary; undelivered: number; setupFailed?: string }
  broker: { peakRssMiB: number | null; topics: number | null }
  outcomes: Record<string, Record<string, unknown>>
}

t.test('bench/hostile/run.mjs: dlq-wildcard and request-hoarding beside the victim', { skip: !built && 'needs npm run build' }, async (t) => {
  const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-hostile-smoke-')), 'out.json')
  t.teardown(() => fs.rmSync(path.dirname(json), { recursive: true, force: true }))
  const res = spawnSync(process.execPath, [path.join(root, 'bench/hostile/run.mjs'), '--seconds', '2', '--only', 'dlq-wildcard,request-hoarding', '--no-each', '--json', json], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  t.equal(res.status, 0, res.stderr)
  t.match(res.stdout, /\| phase \| confirm p50 \/ p99 ms \|/, 'the table is printed')
  const phases = JSON.parse(fs.readFileSync(json, 'utf8')) as Phase[]
  t.same(
    phases.map((p) => p.phase),
    ['baseline', 'all at once'],
  )
  for (const p of phases) {
    t.notOk(p.victim.setupFailed, `${p.phase}: the victim started`)
    for (const kind of ['confirm', 'deliver', 'ping', 'request'] as const) {
      t.ok(p.victim[kind].count > 0 && p.victim[kind].failed === 0, `${p.phase}: victim ${kind} answered (${p.victim[kind].count}), none failed`)
    }
    t.equal(p.victim.undelivered, 0, `${p.phase}: every confirmed victim message was delivered`)
    if (process.platform === 'linux') t.ok((p.broker.peakRssMiB ?? 0) > 0, 'the broker was measured')
  }
  const attacked = phases[1]!.outcomes
  t.equal(attacked['dlq-wildcard']!.subscribed, 0, 'the dead letters of a topic the attacker may not read were refused')
  t.ok(Number(attacked['dlq-wildcard']!.tries) > 0)
  t.ok(Number(attacked['request-hoarding']!.requests) > 0, 'the hoarder sent requests')
})
