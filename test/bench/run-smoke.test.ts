/**
 * The bench runner end to end on the built code: S1 in quick mode must count
 * every message once, at both ends, with a latency sample for each, and none
 * of its warm-up (another topic, before go); S7 must end with a result whether
 * or not this build takes UDP telemetry. Asserts counts and shapes only,
 * never speed.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const built = fs.existsSync(path.join(root, 'dist/cli/skiff.js')) && fs.existsSync(path.join(root, 'dist/clients/index.js'))
const etcd = process.env.SKIFF_ETCD_BIN ?? '/usr/bin/etcd'

/** bench/run.mjs with `args` and --json: its exit status, stderr and the JSON records it printed. */
function runBench(...args: string[]) {
  const res = spawnSync(process.execPath, [path.join(root, 'bench/run.mjs'), ...args, '--json'], { encoding: 'utf8', timeout: 150_000 })
  const records = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, records }
}

t.test('S1 and S7 through bench/run.mjs --json', { skip: !built && 'needs npm run build' }, async (t) => {
  const res = runBench('S1', 'S7')
  t.equal(res.status, 0, res.stderr)
  const records = res.records
  t.equal(records.length, 2)
  const [s1, s7] = records
  t.equal(s1.scenario, 'S1')
  t.equal(s1.outcome, 'complete')
  t.equal(s1.sent, 50_000)
  t.equal(s1.confirmed, 50_000)
  t.equal(s1.received, 50_000)
  t.equal(s1.receivedFraction, 1)
  t.equal(s1.latency.count, 50_000, 'one latency sample per message')
  t.ok(s1.latency.p50 <= s1.latency.p99 && s1.latency.p99 <= s1.latency.max)
  t.ok(s1.msgsPerSec > 0)
  t.same(s1.warmup, { topic: 'bench-warmup', messagesPerProcess: 50_000 }, 'warmed up on its own topic')
  t.equal(s7.warmup, null, 'the UDP scenario has no warm-up')
  if (process.platform === 'linux') t.ok(s1.broker.peakRssMiB > 0 && s1.broker.cpuSeconds >= 0)
  t.equal(s7.scenario, 'S7')
  t.ok(['complete', 'incomplete', 'not available'].includes(s7.outcome), `S7 outcome ${s7.outcome}`)
  t.match(res.stderr, /Scenario\s+Run\s+Result/, 'the table goes to stderr with --json')
})

t.test('--cold: no warm-up, the same counts', { skip: !built && 'needs npm run build' }, async (t) => {
  const res = runBench('S1', '--cold')
  t.equal(res.status, 0, res.stderr)
  const [s1] = res.records
  t.equal(s1.outcome, 'complete')
  t.equal(s1.warmup, null)
  t.equal(s1.received, 50_000)
  t.equal(s1.latency.count, 50_000)
})

t.test('--topology embedded: S1 in one application process, every message counted once', { skip: !built && 'needs npm run build' }, async (t) => {
  const res = runBench('S1', '--topology', 'embedded')
  t.equal(res.status, 0, res.stderr)
  const [s1] = res.records
  t.equal(s1.topology, 'embedded')
  t.equal(s1.broker, 'skiffmq')
  t.equal(s1.durability, 'fsync before confirm')
  t.equal(s1.outcome, 'complete')
  t.equal(s1.sent, 50_000)
  t.equal(s1.received, 50_000)
  t.equal(s1.latency.count, 50_000)
  t.equal(s1.warmup, null, 'cold unless --warm')
  t.match(res.stderr, /Scenario\s+Run\s+Broker\s+Durability\s+Result/, 'the embedded table, on stderr with --json')
})

t.test('--cluster 2 --replication-factor 1: the cluster\'s topics are made with one copy, every message counted once', { skip: (!built && 'needs npm run build') || (!fs.existsSync(etcd) && `needs etcd at ${etcd} (Debian: apt-get install etcd-server)`) }, async (t) => {
  const res = runBench('S1', '--cluster', '2', '--replication-factor', '1', '--repeat', '1')
  t.equal(res.status, 0, res.stderr)
  const [one, cluster] = res.records
  t.equal(one.variant, '50,000 x 128 B, 4 partitions, 1 broker')
  t.equal(one.replication, undefined, 'a single broker takes its default')
  t.equal(cluster.variant, '50,000 x 128 B, 4 partitions, cluster of 2, 1 copy')
  t.equal(cluster.cluster, 2)
  t.same(cluster.replication, { replicationFactor: 1, minInSync: 1 }, 'what the cluster says it made')
  for (const r of [one, cluster]) {
    t.equal(r.outcome, 'complete')
    t.equal(r.confirmed, 50_000)
    t.equal(r.received, 50_000)
  }
  t.match(res.stdout, /One broker against a cluster of 2, its topics with 1 copy of each partition/)
})
