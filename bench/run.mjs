#!/usr/bin/env node
/**
 * The bench runner: `node bench/run.mjs [S1 ... S9 | all] [--full] [--json]
 * [--repeat N] [--record] [--profile DIR]`, also `skiff bench` and `npm run
 * bench` (S1-S7, quick). Runs the built code in dist/ (`npm run build` first).
 *
 *   --full        the sizes bench/README.md defines (default: quick sizes, same shapes)
 *   --json        one JSON object per run on stdout; the table goes to stderr
 *   --repeat N    run each scenario N times (default 1; S1 5 times with --full)
 *   --record      write bench/RESULTS.md, bench/results.jsonl (each run as it ends) and bench/charts/*.svg
 *   --cold        no warm-up phase: measure from cold processes (see lib/workload.mjs)
 *   --profile DIR node --cpu-prof for the broker and every role process, into DIR
 *                 (summarise with `node bench/profile-summary.mjs DIR`)
 *
 * Exit code 1 when a run failed (a role crashed, the broker did not start);
 * a missed target is a result, not a failure.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { execFileSync } from 'node:child_process'
import { BENCH_DIR, requireBuild, ROOT_DIR } from './lib/paths.mjs'
import { runWorkload } from './lib/workload.mjs'
import { createProgress } from './lib/progress.mjs'
import { textTable } from './lib/format.mjs'
import { TABLE_HEADER, cpuPerMessage, headlineValue, tableRow, timerLatenessLines } from './lib/summary.mjs'
import { QUICK_SET, SCENARIOS, findScenario } from './scenarios.mjs'

const USAGE = `usage: skiff bench [S1..S9 | all] [--full] [--json] [--repeat N] [--record] [--cold] [--profile DIR] [--cluster N]
scenarios: ${SCENARIOS.map((s) => `${s.id} ${s.name}`).join(', ')}
default: ${QUICK_SET.join(' ')} in quick mode`

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      full: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      repeat: { type: 'string' },
      record: { type: 'boolean', default: false },
      profile: { type: 'string' },
      cold: { type: 'boolean', default: false },
      cluster: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const names = positionals.length === 0 ? QUICK_SET : positionals.flatMap((p) => (p.toLowerCase() === 'all' ? SCENARIOS.map((s) => s.id) : [p]))
  const scenarios = names.map((n) => {
    const s = findScenario(n)
    if (!s) throw new Error(`unknown scenario ${JSON.stringify(n)}\n${USAGE}`)
    return s
  })
  const repeat = values.repeat === undefined ? undefined : Number(values.repeat)
  if (repeat !== undefined && !(Number.isInteger(repeat) && repeat >= 1 && repeat <= 20)) throw new Error('--repeat must be an integer from 1 to 20')
  const cluster = values.cluster === undefined ? undefined : Number(values.cluster)
  if (cluster !== undefined && !(Number.isInteger(cluster) && cluster >= 2 && cluster <= 5)) throw new Error('--cluster must be an integer from 2 to 5')
  if (cluster !== undefined && values.record) throw new Error('--cluster runs are not recorded into RESULTS.md: run them without --record')
  return { ...values, repeat, scenarios, cluster }
}

/** Run a bench/micro script with --json; its records, or none if it failed (reported on stderr). */
function runMicro(script, args) {
  process.stderr.write(`micro/${script}...\n`)
  try {
    const out = execFileSync(process.execPath, [path.join(BENCH_DIR, 'micro', script), '--json', ...args], { encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'ignore'] })
    return out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
  } catch (err) {
    process.stderr.write(`micro/${script} failed: ${err.message}\n`)
    return []
  }
}

/**
 * `--cluster N`: each run twice, on one broker and on N brokers of a cluster,
 * alternating, with 2N partitions in both (a cluster spreads partitions, so
 * a single partition would measure one broker of the N). The records say
 * which (`cluster`), and the table the ratio's two sides.
 */
function clusterRuns(runs, size) {
  return runs.flatMap((run) => {
    const partitions = Math.max(run.workload.broker.partitions ?? 1, 2 * size)
    const workload = { ...run.workload, broker: { ...run.workload.broker, partitions } }
    return [
      { ...run, variant: `${run.variant}, ${partitions} partitions, 1 broker`, workload },
      { ...run, variant: `${run.variant}, ${partitions} partitions, cluster of ${size}`, workload, cluster: size },
    ]
  })
}

/** Per scenario: the medians on one broker and on the cluster, their ratio, and broker CPU per message on each side. */
function clusterComparison(records, size) {
  const median = (xs) => {
    const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b)
    return s.length === 0 ? null : s[Math.floor((s.length - 1) / 2)]
  }
  const lines = [`One broker against a cluster of ${size} on this machine (the brokers share its cores: compare the ratio and the CPU per message, not the absolute figures):`]
  for (const scenario of [...new Set(records.map((r) => r.scenario))]) {
    const side = (cluster) => records.filter((r) => r.scenario === scenario && r.outcome === 'complete' && Boolean(r.cluster) === cluster)
    const [one, many] = [side(false), side(true)]
    const figure = (rs) => median(rs.map(headlineValue))
    const cpu = (rs) => median(rs.map((r) => cpuPerMessage(r).broker))
    const [a, b] = [figure(one), figure(many)]
    const ratio = a && b ? (b / a).toFixed(2) : 'n/a'
    lines.push(`  ${scenario}: 1 broker ${a === null ? 'n/a' : Math.round(a).toLocaleString('en-US')}, cluster ${b === null ? 'n/a' : Math.round(b).toLocaleString('en-US')} (x${ratio}); broker CPU per message ${cpu(one)?.toFixed(2) ?? 'n/a'} µs against ${cpu(many)?.toFixed(2) ?? 'n/a'} µs for the whole cluster`)
  }
  return lines
}

const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')

export function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT_DIR, encoding: 'utf8' }).trim()
    return head
  } catch {
    return 'unknown'
  }
}

async function main() {
  let opts
  try {
    opts = parse(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${err.message}\n`)
    process.exit(2)
  }
  if (opts.help) {
    process.stdout.write(USAGE + '\n')
    return
  }
  requireBuild()
  const mode = opts.full ? 'full' : 'quick'
  const commit = gitCommit()
  const command = ['node bench/run.mjs', ...process.argv.slice(2)].join(' ')
  const progress = createProgress()
  const records = []
  // With --record every run is appended to results.jsonl as soon as it ends, so a long run
  // survives a failure after it (the page and charts can be rebuilt with report.mjs).
  const jsonl = path.join(BENCH_DIR, 'results.jsonl')
  if (opts.record) fs.writeFileSync(jsonl, '')
  const keep = (record) => {
    records.push(record)
    if (opts.record) fs.appendFileSync(jsonl, JSON.stringify(record) + '\n')
  }
  const began = Date.now()
  let failed = false
  for (const s of opts.scenarios) {
    const runs = opts.cluster ? clusterRuns(s.runs(opts.full), opts.cluster) : s.runs(opts.full)
    const repeat = opts.repeat ?? (opts.full ? (s.repeatFull ?? 1) : 1)
    for (const run of runs) {
      for (let i = 0; i < repeat; i++) {
        const label = `${s.id} ${s.name} (${run.variant}${repeat > 1 ? `, run ${i + 1}/${repeat}` : ''})`
        const base = { scenario: s.id, name: s.name, variant: run.variant, mode, metric: run.metric ?? s.metric, target: s.target, repeat: i + 1, node: process.version, commit, command }
        // The 1-minute load average before the run: on a shared machine it says how much to trust the figure.
        base.loadBefore = Math.round(os.loadavg()[0] * 100) / 100
        let record
        try {
          const profileDir = opts.profile ? path.join(opts.profile, slug(`${s.id}-${run.variant}-${i + 1}`)) : undefined
          const result = await runWorkload(run.workload, { label, progress, profileDir, warmup: !opts.cold, cluster: run.cluster })
          record = { ...base, ...result, ...(run.cluster ? { cluster: run.cluster } : {}) }
        } catch (err) {
          failed = true
          record = { ...base, outcome: 'failed', error: err?.message ?? String(err) }
        }
        keep(record)
        if (opts.json) process.stdout.write(JSON.stringify(record) + '\n')
        else process.stderr.write(`${label}: ${tableRow(record)[2]} (${record.outcome})\n`)
      }
    }
  }
  const table = textTable(TABLE_HEADER, records.map(tableRow))
  const footer = `${mode} mode, ${((Date.now() - began) / 1000).toFixed(1)} s, node ${process.version}, commit ${commit}`
  // The machine's scheduling noise during the runs, so a noisy machine is not read as a slow broker.
  const noise = timerLatenessLines(records)
  ;(opts.json ? process.stderr : process.stdout).write(`\n${table}\n${noise.length ? `\n${noise.join('\n')}\n` : ''}\n${footer}\n`)
  if (opts.cluster) process.stdout.write(`\n${clusterComparison(records, opts.cluster).join('\n')}\n`)
  for (const r of records.filter((r) => r.error)) process.stderr.write(`\n${r.scenario} ${r.variant} failed:\n${r.error}\n`)
  if (opts.record) {
    const { writeResults } = await import('./lib/results.mjs')
    // The micro-benchmarks go into the record too: the per-step codec costs and the disk's fsync
    // latency explain the end-to-end figures beside them.
    for (const r of [...runMicro('codec.mjs', ['--ms', opts.full ? '1000' : '300']), ...runMicro('fsync.mjs', [])]) keep(r)
    const files = [path.relative(process.cwd(), jsonl), ...writeResults(records, { mode, commit, command })]
    process.stderr.write(`wrote ${files.join(', ')}\n`)
  }
  if (failed) process.exitCode = 1
}

// Interrupted: exit through 'exit' handlers, which stop the broker and remove its temp dir.
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130))

await main()
