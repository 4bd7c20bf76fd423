#!/usr/bin/env node
/**
 * The cluster fault suite for long runs: three etcd members, three brokers
 * (--brokers 4: four, and partitions also move between them; every link
 * behind a fault proxy), a keyed idempotent workload with a
 * consumer group, a seeded fault every few seconds for --minutes, then every
 * replica read from disk and checked (test/cluster/fault-suite.ts is the
 * runner; the short run of the same code is test/cluster/fault-suite.test.ts).
 *
 *   npm run bench:cluster-faults -- --minutes 30 --seed 42
 *   node bench/cluster-faults/run.mjs --minutes 5 --faults kill-leader,pause-leader --interval 3000
 *
 * Prints each fault as it happens and a table at the end, appends a JSON line
 * to bench/cluster-faults/results.jsonl, and exits 1 when the check found
 * anything (lost, duplicated, reordered, replicas differing, undelivered).
 *
 * The runner is TypeScript; this script runs it through tap's TypeScript
 * loader (a dev dependency), re-starting itself with `--import
 * @tapjs/typescript/import` when it was started without it. It spawns the
 * built broker (dist/): `npm run build` first (the npm script does).
 */
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const LOADER = '@tapjs/typescript/import'

if (!process.execArgv.some((a) => a.includes('@tapjs/typescript'))) process.exit(await underLoader())

/** This script again, under the TypeScript loader; resolves to its exit status. */
function underLoader() {
  const child = spawn(process.execPath, ['--import', LOADER, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', cwd: root })
  // A signal for this process is the run's too (Ctrl-C reaches both, a SIGTERM may reach only this one).
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? 128 + (os.constants.signals[signal] ?? 0))))
}

// Interrupted: exit through the harness's 'exit' hooks, which SIGKILL the etcd members and the
// brokers (paused ones too) and remove their data directories. The handlers stay installed, so a
// second signal during that cleanup does not cut it short.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(signal, () => {
    console.error(`${signal}: stopping the cluster and removing its data`)
    process.exit(code)
  })
}

const { values } = parseOrExit({
  options: {
    minutes: { type: 'string', default: '5' },
    seed: { type: 'string' },
    interval: { type: 'string', default: '4000' },
    faults: { type: 'string' },
    rate: { type: 'string', default: '100' },
    partitions: { type: 'string', default: '6' },
    brokers: { type: 'string', default: '3' },
    results: { type: 'string', default: path.join(here, 'results.jsonl') },
    logs: { type: 'string' },
    'keep-data': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
})
function parseOrExit(config) {
  try {
    return parseArgs(config)
  } catch (err) {
    console.error(`${err.message} (--help lists the options)`)
    process.exit(2)
  }
}

if (values.help) {
  console.log(`usage: node bench/cluster-faults/run.mjs [--minutes 5] [--seed N] [--interval 4000] [--faults a,b] [--rate 100] [--partitions 6] [--brokers 3] [--results file] [--logs dir]
--logs dir: write each broker's warnings and errors (broker-<id>.jsonl) and the failed publishes (failures.jsonl) there
(a run whose check finds anything writes them to a new temp dir without it, and says where)
--keep-data: when confirmed records stay undelivered, leave the brokers' data dirs in place (the run says where)
faults: kill-leader, pause-leader, cut-leader-etcd, cut-leader-peers, kill-all, pause-etcd-leader, wipe-restart, move-partition
(default: all; wipe-restart is left out while partitions have one copy, and move-partition while every broker has a copy
of every partition, i.e. with 3 brokers: give --brokers 4 to move partitions, unless named)`)
  process.exit(0)
}

const positive = (name, v) => {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, not ${JSON.stringify(v)}`)
    process.exit(2)
  }
  return n
}

if (!fs.existsSync(path.join(root, 'dist/cli/skiff.js'))) {
  console.error('dist/cli/skiff.js is missing: run npm run build first')
  process.exit(2)
}

const { runFaultSuite } = await import(path.join(root, 'test/cluster/fault-suite.ts'))
const { FAULT_NAMES } = await import(path.join(root, 'test/cluster/faults.ts'))
const { etcdctlMissing } = await import(path.join(root, 'test/cluster/etcd-harness.ts'))

const missing = etcdctlMissing()
if (missing) {
  console.error(missing)
  process.exit(2)
}
let faults
if (values.faults) {
  faults = values.faults.split(',').map((s) => s.trim()).filter(Boolean)
  const unknown = faults.filter((f) => !FAULT_NAMES.includes(f))
  if (unknown.length) {
    console.error(`unknown fault(s): ${unknown.join(', ')}; known: ${FAULT_NAMES.join(', ')}`)
    process.exit(2)
  }
}
const seed = values.seed !== undefined ? Math.floor(positive('seed', values.seed)) : 1 + (Date.now() % 1_000_000_007)
const minutes = positive('minutes', values.minutes)

console.log(`cluster faults: seed ${seed}, ${minutes} min of faults (replay: --seed ${seed})`)
const result = await runFaultSuite({
  seed,
  runMs: Math.round(minutes * 60_000),
  intervalMs: positive('interval', values.interval),
  rate: positive('rate', values.rate),
  partitions: Math.floor(positive('partitions', values.partitions)),
  brokers: Math.floor(positive('brokers', values.brokers)),
  ...(faults ? { faults } : {}),
  keepDataOnUndelivered: values['keep-data'] === true,
  log: (line) => console.log(line),
})
console.log(`\n${result.table()}\n`)
// A run that found something keeps its logs even without --logs: it may not come again with the same seed.
const logs = values.logs ?? (result.json().ok ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-faults-logs-')))
if (logs) {
  fs.mkdirSync(logs, { recursive: true })
  for (const [id, lines] of result.brokerLogs) fs.writeFileSync(path.join(logs, `broker-${id}.jsonl`), lines.map((l) => JSON.stringify(l)).join('\n') + '\n')
  fs.writeFileSync(path.join(logs, 'failures.jsonl'), result.failures.map((f) => JSON.stringify(f)).join('\n') + '\n')
  console.log(`broker warnings and failed publishes in ${logs}`)
}
// Which build ran, so a line can be read against the code it measured.
const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' })
const commit = head.status === 0 ? head.stdout.trim() : null
fs.appendFileSync(values.results, JSON.stringify({ ...result.json(), minutes, commit }) + '\n')
console.log(`appended to ${path.relative(process.cwd(), values.results)}`)
process.exit(result.json().ok ? 0 : 1)
