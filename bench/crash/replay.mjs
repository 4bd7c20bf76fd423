#!/usr/bin/env node
/**
 * The crash-consistency replay of test/reliability/crash-consistency.test.ts,
 * without its time bound: record the workload's file operations under strace,
 * then start a real broker on the disk every power-loss point can leave and
 * check it (the library is test/reliability/crash-replay/; its header
 * comments give the durability model's rules and the checks).
 *
 *   node bench/crash/replay.mjs [--all] [--written 60] [--runs 1] [--seed N]
 *                               [--width 2] [--keep DIR] [--json FILE]
 *
 * --all            the written view at every cut point too (the durable view
 *                  always runs every cut point)
 * --runs N         record N traces in turn (thread timings differ, so do the
 *                  interleavings) and replay each
 * --keep DIR       keep each run's trace (broker.strace) in DIR
 *
 * Runs the built broker (`npm run build`) and the TypeScript library through
 * tap's loader; it re-runs itself under that loader when started without it.
 * Exit code 1 when any cut point of any run fails; 2 when it cannot record.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { requireBuild } from '../lib/paths.mjs'

const LOADER = '@tapjs/typescript/import'
if (!process.execArgv.some((a) => a.includes('tapjs/typescript'))) {
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve(LOADER), ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const USAGE = `usage: node bench/crash/replay.mjs [--all] [--written 60] [--runs 1] [--seed N] [--width 2]
                                  [--keep DIR] [--json FILE]`
const { values: opt } = parseArgs({
  options: {
    all: { type: 'boolean', default: false },
    written: { type: 'string', default: '60' },
    runs: { type: 'string', default: '1' },
    seed: { type: 'string' },
    width: { type: 'string', default: '2' },
    keep: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (opt.help) {
  console.log(USAGE)
  process.exit(0)
}
requireBuild()

const lib = (name) => import(new URL(`../../test/reliability/crash-replay/${name}`, import.meta.url).href)
const { record, straceProblem } = await lib('recorder.ts')
const { runCampaign } = await lib('campaign.ts')
const { describeSegment, segmentsOf } = await lib('report.ts')

const problem = await straceProblem()
if (problem) {
  console.error(`cannot record: ${problem}`)
  process.exit(2)
}
const runs = Math.max(1, Math.min(100, Number(opt.runs) || 1))
const seed = Number(opt.seed) || Date.now() % 1_000_000_007
const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
console.log(`seed ${seed}, ${runs} run(s), written view: ${opt.all ? 'every cut point' : `${opt.written} cut points`}`)

const results = []
let failed = 0
for (let run = 1; run <= runs; run++) {
  const workDir = fs.mkdtempSync(path.join(base, 'skiff-crash-bench-'))
  try {
    const rec = await record(workDir)
    if (opt.keep) {
      fs.mkdirSync(opt.keep, { recursive: true })
      fs.copyFileSync(rec.traceFile, path.join(opt.keep, `run-${run}.strace`))
    }
    const report = await runCampaign(rec, {
      workDir,
      writtenCuts: opt.all ? 'all' : Number(opt.written),
      seed: seed + run - 1,
      width: Math.max(1, Number(opt.width) || 1),
      deadlineMs: 24 * 3600_000,
      log: (l) => console.log(`  ${l}`),
    })
    console.log(`run ${run}: ${rec.io.ops.length} file operations, ${report.states.length} disks started in ${(report.ms / 1000).toFixed(1)} s`)
    const summary = { run, ops: rec.io.ops.length, states: report.states.length, ms: Math.round(report.ms), views: {} }
    for (const view of ['written', 'durable']) {
      const segments = segmentsOf(report, view)
      const cuts = segments.reduce((n, s) => n + s.cuts, 0)
      const failing = segments.filter((s) => s.checks.length > 0)
      console.log(`  ${view}: ${cuts - failing.reduce((n, s) => n + s.cuts, 0)} of ${cuts} cut points pass`)
      failed += failing.length
      for (const seg of failing) console.log(`    [FAIL] ${describeSegment(seg, rec.io.ops)}`)
      summary.views[view] = { cuts, failing: failing.map((s) => ({ from: s.first.cut, to: s.last.cut, checks: s.checks })) }
    }
    results.push(summary)
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true })
  }
}
if (opt.json) fs.writeFileSync(opt.json, JSON.stringify({ seed, all: opt.all, results }, null, 2) + '\n')
console.log(failed === 0 ? 'every cut point passes' : `${failed} failing segment(s)`)
process.exit(failed === 0 ? 0 : 1)
