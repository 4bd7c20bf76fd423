import t from 'tap'
import fs from 'node:fs'
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { findBenchScript } from '../../cli/bench-command.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

t.test('skiff bench finds bench/run.mjs from the source and the built command folders', async (t) => {
  const want = path.join(root, 'bench', 'run.mjs')
  t.equal(findBenchScript(path.join(root, 'cli')), want)
  t.equal(findBenchScript(path.join(root, 'dist', 'cli')), want)
})

t.test('skiff bench reports no script where there is none', async (t) => {
  // Outside the repository, so no parent folder holds a bench/ either.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-cmd-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const deep = path.join(dir, 'a', 'b', 'c')
  fs.mkdirSync(deep, { recursive: true })
  t.equal(findBenchScript(deep), undefined)
})

t.test('the built skiff bench passes its arguments to the runner', { skip: !fs.existsSync(path.join(root, 'dist/cli/skiff.js')) && 'needs npm run build' }, async (t) => {
  const res = spawnSync(process.execPath, [path.join(root, 'dist/cli/skiff.js'), 'bench', 'S99'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(res.status, 2)
  t.match(res.stderr, /unknown scenario "S99"/)
  t.match(res.stderr, /S1 durable-ack, S2 fire-and-forget/)
})

/** bench/run.mjs with these arguments (it checks them before it needs a build). */
const runBench = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'bench/run.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 })

t.test('--against names only brokers the bench knows, and only with --topology embedded', async (t) => {
  const unknown = runBench('S1', '--topology', 'embedded', '--against', 'nats,foo')
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /--against: unknown broker "foo" \(known: nats, redis, rabbitmq\)/)
  const without = runBench('S1', '--against', 'nats')
  t.equal(without.status, 2)
  t.match(without.stderr, /--against compares brokers in the embedded topology only: add --topology embedded/)
  const empty = runBench('S1', '--topology', 'embedded', '--against', '')
  t.equal(empty.status, 2)
  t.match(empty.stderr, /--against needs a comma-separated list of brokers from nats, redis, rabbitmq/)
})

t.test('--topology takes processes or embedded; --warm and S7 belong to one of them', async (t) => {
  const bad = runBench('S1', '--topology', 'threads')
  t.equal(bad.status, 2)
  t.match(bad.stderr, /--topology must be processes or embedded, not "threads"/)
  const warm = runBench('S1', '--warm')
  t.equal(warm.status, 2)
  t.match(warm.stderr, /--warm is for --topology embedded/)
  const cold = runBench('S1', '--topology', 'embedded', '--cold')
  t.equal(cold.status, 2)
  t.match(cold.stderr, /--cold is not available with --topology embedded \(it runs cold unless --warm\)/)
  const udp = runBench('S7', '--topology', 'embedded')
  t.equal(udp.status, 2)
  t.match(udp.stderr, /S7 has no embedded form/)
  const help = runBench('--help')
  t.match(help.stdout, /--topology embedded \[--warm\] \[--against nats,redis,rabbitmq\]/)
  t.match(help.stdout, /S7 \(UDP telemetry\) is left out of it/)
})

t.test('the built skiff bench passes --topology, --warm and --against through', { skip: !fs.existsSync(path.join(root, 'dist/cli/skiff.js')) && 'needs npm run build' }, async (t) => {
  const res = spawnSync(process.execPath, [path.join(root, 'dist/cli/skiff.js'), 'bench', 'S1', '--topology', 'embedded', '--warm', '--against', 'foo'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(res.status, 2)
  t.match(res.stderr, /unknown broker "foo"/, '--against reached the runner, with --topology embedded')
  const help = spawnSync(process.execPath, [path.join(root, 'dist/cli/skiff.js'), 'bench', '--help'], { encoding: 'utf8', timeout: 60_000 })
  t.match(help.stdout, /--against/)
  t.match(help.stdout, /--topology/)
  t.match(help.stdout, /--warm/)
})

t.test('--replication-factor goes with --cluster, from 1 to the cluster\'s size', async (t) => {
  const alone = runBench('S1', '--replication-factor', '1')
  t.equal(alone.status, 2)
  t.match(alone.stderr, /--replication-factor is for --cluster runs/)
  for (const bad of ['0', '4', '1.5', 'three']) {
    const res = runBench('S1', '--cluster', '3', '--replication-factor', bad)
    t.equal(res.status, 2, bad)
    t.match(res.stderr, /--replication-factor must be an integer from 1 to the cluster's 3 brokers/, bad)
  }
  t.match(runBench('--help').stdout, /--cluster N \[--replication-factor R\]/)
})
