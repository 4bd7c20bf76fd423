#!/usr/bin/env node
/**
 * The bench runner: `node bench/run.mjs [S1 ... S9 | all] [--full] [--json]
 * [--repeat N] [--record] [--profile DIR] [--topology embedded [--warm]
 * [--against nats,redis,rabbitmq]]`, also `skiff bench` and `npm run bench`
 * (S1-S7, quick). Runs the built code in dist/ (`npm run build` first).
 *
 *   --full        the sizes bench/README.md defines (default: quick sizes, same shapes)
 *   --json        one JSON object per run on stdout; the table goes to stderr
 *   --repeat N    run each scenario N times (default 1; S1 5 times with --full)
 *   --record      write bench/RESULTS.md, bench/results.jsonl (each run as it ends) and bench/charts/*.svg
 *   --cold        no warm-up phase: measure from cold processes (see lib/workload.mjs)
 *   --profile DIR node --cpu-prof for the broker and every role process, into DIR
 *                 (summarise with `node bench/profile-summary.mjs DIR`)
 *   --topology    processes (default: the clients in processes of their own) or
 *                 embedded (one application process per run: bench/embedded/)
 *   --warm        embedded only: a warm-up phase before go (default cold)
 *   --against L   embedded only: also run each scenario on these brokers
 *                 (nats, redis, rabbitmq), taking turns with skiffmq
 *   --cluster N   each run on one broker and on a cluster of N, taking turns
 *   --replication-factor R
 *                 with --cluster: the cluster's topics made with R copies
 *                 (default: the cluster's own default, 3); R 1 spreads the
 *                 partitions without replicating them
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
import { EMBEDDED_SKIPS, PEER_BROKERS, runEmbeddedScenarios } from './embedded/scenario-runs.mjs'
import { EMBEDDED_HEADER, embeddedRow, embeddedRows } from './embedded/table.mjs'

const USAGE = `usage: skiff bench [S1..S9 | all] [--full] [--json] [--repeat N] [--record] [--cold] [--profile DIR] [--cluster N [--replication-factor R]]
       skiff bench [S1..S9 | all] --topology embedded [--warm] [--against ${PEER_BROKERS.join(',')}] [--full] [--json] [--repeat N] [--record]
scenarios: ${SCENARIOS.map((s) => `${s.id} ${s.name}`).join(', ')}
default: ${QUICK_SET.join(' ')} in quick mode
--topology embedded: one application process per run (consumers on its main thread, producers in one
worker thread), cold unless --warm; ${[...EMBEDDED_SKIPS].join(', ')} (UDP telemetry) is left out of it`

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
      'replication-factor': { type: 'string' },
      topology: { type: 'string', default: 'processes' },
      warm: { type: 'boolean', default: false },
      against: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const names = positionals.length === 0 ? QUICK_SET : positionals.flatMap((p) => (p.toLowerCase() === 'all' ? SCENARIOS.map((s) => s.id) : [p]))
  let scenarios = names.map((n) => {
    const s = findScenario(n)
    if (!s) throw new Error(`unknown scenario ${JSON.stringify(n)}\n${USAGE}`)
    return s
  })
  const embedded = parseTopology(values)
  const skipped = embedded ? scenarios.filter((s) => EMBEDDED_SKIPS.has(s.id)) : []
  if (embedded) scenarios = scenarios.filter((s) => !EMBEDDED_SKIPS.has(s.id))
  if (embedded && scenarios.length === 0) throw new Error(`${skipped.map((s) => s.id).join(', ')} has no embedded form: choose other scenarios`)
  const repeat = values.repeat === undefined ? undefined : Number(values.repeat)
  if (repeat !== undefined && !(Number.isInteger(repeat) && repeat >= 1 && repeat <= 20)) throw new Error('--repeat must be an integer from 1 to 20')
  const cluster = values.cluster === undefined ? undefined : Number(values.cluster)
  if (cluster !== undefined && !(Number.isInteger(cluster) && cluster >= 2 && cluster <= 5)) throw new Error('--cluster must be an integer from 2 to 5')
  if (cluster !== undefined && values.record) throw new Error('--cluster runs are not recorded into RESULTS.md: run them without --record')
  const rf = values['replication-factor']
  const replicationFactor = rf === undefined ? undefined : Number(rf)
  if (replicationFactor !== undefined && cluster === undefined) throw new Error('--replication-factor is for --cluster runs')
  if (replicationFactor !== undefined && !(Number.isInteger(replicationFactor) && replicationFactor >= 1 && replicationFactor <= cluster)) throw new Error(`--replication-factor must be an integer from 1 to the cluster's ${cluster} brokers`)
  return { ...values, repeat, scenarios, cluster, replicationFactor, embedded: embedded !== null, against: embedded?.against ?? [], skipped }
}

/** --topology, --warm and --against checked together: null for the multi-process topology, else the brokers to run against. */
function parseTopology(values) {
  if (!['processes', 'embedded'].includes(values.topology)) throw new Error(`--topology must be processes or embedded, not ${JSON.stringify(values.topology)}`)
  if (values.topology === 'processes') {
    if (values.against !== undefined) throw new Error('--against compares brokers in the embedded topology only: add --topology embedded')
    if (values.warm) throw new Error('--warm is for --topology embedded (the multi-process topology warms up unless --cold)')
    return null
  }
  for (const [flag, given] of [['--cold', values.cold], ['--cluster', values.cluster !== undefined], ['--profile', values.profile !== undefined]]) {
    if (given) throw new Error(`${flag} is not available with --topology embedded${flag === '--cold' ? ' (it runs cold unless --warm)' : ''}`)
  }
  if (values.against === undefined) return { against: [] }
  const against = values.against.split(',').map((b) => b.trim().toLowerCase())
  if (against.includes('')) throw new Error(`--against needs a comma-separated list of brokers from ${PEER_BROKERS.join(', ')}`)
  const unknown = against.filter((b) => !PEER_BROKERS.includes(b))
  if (unknown.length > 0) throw new Error(`--against: unknown broker${unknown.length > 1 ? 's' : ''} ${unknown.map((b) => JSON.stringify(b)).join(', ')} (known: ${PEER_BROKERS.join(', ')})`)
  return { against: [...new Set(against)] }
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
 * which (`cluster`), and the table the ratio's two sides. With a
 * replication factor, the cluster's topics are made with that many copies
 * before the run (lib/workload.mjs); without, they take the cluster's default.
 */
/** "1 copy", "3 copies". */
const copiesOf = (replicationFactor) => `${replicationFactor} cop${replicationFactor === 1 ? 'y' : 'ies'}`

function clusterRuns(runs, size, replicationFactor) {
  return runs.flatMap((run) => {
    const partitions = Math.max(run.workload.broker.partitions ?? 1, 2 * size)
    const workload = { ...run.workload, broker: { ...run.workload.broker, partitions } }
    const copies = replicationFactor === undefined ? '' : `, ${copiesOf(replicationFactor)}`
    return [
      { ...run, variant: `${run.variant}, ${partitions} partitions, 1 broker`, workload },
      { ...run, variant: `${run.variant}, ${partitions} partitions, cluster of ${size}${copies}`, workload: replicationFactor === undefined ? workload : { ...workload, replicationFactor }, cluster: size },
    ]
  })
}

/** Per scenario: the medians on one broker and on the cluster, their ratio, and broker CPU per message on each side. */
function clusterComparison(records, size, replicationFactor) {
  const median = (xs) => {
    const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b)
    return s.length === 0 ? null : s[Math.floor((s.length - 1) / 2)]
  }
  const copies = replicationFactor === undefined ? '' : `, its topics with ${copiesOf(replicationFactor)} of each partition`
  const lines = [`One broker against a cluster of ${size}${copies} on this machine (the brokers share its cores: compare the ratio and the CPU per message, not the absolute figures):`]
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

/** The multi-process topology: every run of every scenario through lib/workload.mjs. Resolves to whether a run failed. */
async function runProcessScenarios(opts, { base, keep, progress }) {
  let failed = false
  for (const s of opts.scenarios) {
    const runs = opts.cluster ? clusterRuns(s.runs(opts.full), opts.cluster, opts.replicationFactor) : s.runs(opts.full)
    const repeat = opts.repeat ?? (opts.full ? (s.repeatFull ?? 1) : 1)
    for (const run of runs) {
      for (let i = 0; i < repeat; i++) {
        const label = `${s.id} ${s.name} (${run.variant}${repeat > 1 ? `, run ${i + 1}/${repeat}` : ''})`
        const b = base(s, run, i + 1)
        let record
        try {
          const profileDir = opts.profile ? path.join(opts.profile, slug(`${s.id}-${run.variant}-${i + 1}`)) : undefined
          const result = await runWorkload(run.workload, { label, progress, profileDir, warmup: !opts.cold, cluster: run.cluster })
          record = { ...b, ...result, ...(run.cluster ? { cluster: run.cluster } : {}) }
        } catch (err) {
          failed = true
          record = { ...b, outcome: 'failed', error: err?.message ?? String(err) }
        }
        keep(record, label)
      }
    }
  }
  return failed
}

const readRecords = (file) =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l))
    : []

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
  const topology = opts.embedded ? 'embedded' : 'processes'
  const progress = createProgress()
  const records = []
  // With --record every run is appended to results.jsonl as soon as it ends, so a long run
  // survives a failure after it (the page and charts can be rebuilt with report.mjs). The file
  // holds both topologies: a recording replaces the lines of its own and keeps the other's.
  const jsonl = path.join(BENCH_DIR, 'results.jsonl')
  if (opts.record) {
    const other = readRecords(jsonl).filter((r) => (r.topology === 'embedded') !== opts.embedded)
    fs.writeFileSync(jsonl, other.map((r) => JSON.stringify(r) + '\n').join(''))
  }
  const row = (r) => (opts.embedded ? embeddedRow(r, records) : tableRow(r))
  const keep = (record, label) => {
    records.push(record)
    if (opts.record) fs.appendFileSync(jsonl, JSON.stringify(record) + '\n')
    if (!label) return
    if (opts.json) process.stdout.write(JSON.stringify(record) + '\n')
    else process.stderr.write(`${label}: ${record.outcome === 'not available' && record.unavailable ? `not available: ${record.unavailable}` : `${row(record)[opts.embedded ? 4 : 2]} (${record.outcome})`}\n`)
  }
  const base = (s, run, repeat) => ({
    topology,
    scenario: s.id,
    name: s.name,
    variant: run.variant,
    mode,
    metric: run.metric ?? s.metric,
    target: s.target,
    repeat,
    node: process.version,
    commit,
    command,
    recordedAt: new Date().toISOString(),
    // The 1-minute load average before the run: on a shared machine it says how much to trust the figure.
    loadBefore: Math.round(os.loadavg()[0] * 100) / 100,
  })
  for (const s of opts.skipped) process.stderr.write(`${s.id} ${s.name}: no embedded form (UDP telemetry), left out\n`)
  const began = Date.now()
  const failed = opts.embedded ? await runEmbeddedScenarios(opts, { base, keep, progress }) : await runProcessScenarios(opts, { base, keep, progress })
  const table = opts.embedded ? textTable(EMBEDDED_HEADER, embeddedRows(records)) : textTable(TABLE_HEADER, records.map(tableRow))
  const footer = `${topology} topology${opts.embedded ? (opts.warm ? ', warm' : ', cold') : ''}, ${mode} mode, ${((Date.now() - began) / 1000).toFixed(1)} s, node ${process.version}, commit ${commit}`
  // The machine's scheduling noise during the runs, so a noisy machine is not read as a slow broker.
  const noise = timerLatenessLines(records)
  ;(opts.json ? process.stderr : process.stdout).write(`\n${table}\n${noise.length ? `\n${noise.join('\n')}\n` : ''}\n${footer}\n`)
  if (opts.cluster) process.stdout.write(`\n${clusterComparison(records, opts.cluster, opts.replicationFactor).join('\n')}\n`)
  for (const r of records.filter((r) => r.error)) process.stderr.write(`\n${r.scenario} ${r.variant}${r.topology === 'embedded' ? ` on ${r.broker}` : ''} failed:\n${r.error}\n`)
  if (opts.record) {
    const { writeResults } = await import('./lib/results.mjs')
    // The micro-benchmarks go into the multi-process record too: the per-step codec costs and the
    // disk's fsync latency explain the end-to-end figures beside them.
    if (!opts.embedded) for (const r of [...runMicro('codec.mjs', ['--ms', opts.full ? '1000' : '300']), ...runMicro('fsync.mjs', [])]) keep(r)
    const files = [path.relative(process.cwd(), jsonl), ...writeResults(records, { mode, commit, command, topology })]
    process.stderr.write(`wrote ${files.join(', ')}\n`)
  }
  if (failed) process.exitCode = 1
}

// Interrupted: exit through 'exit' handlers, which stop the broker and remove its temp dir.
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130))

await main()
