/**
 * The embedded topology on the built broker and client, over loopback: one
 * application process (consumers on this thread, producers in a worker
 * thread) against a fresh skiffmq server per run. Asserts counts and shapes
 * only, never speed. The broker that cannot start is an adapter module
 * written into a temp folder whose startServer rejects the way a peer
 * adapter does when its binary is missing; skiffmq itself is always the real one.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
// The bench is plain JavaScript (it runs without a build step); tap's loader imports it as is.
import { runEmbedded } from '../../bench/embedded/run-embedded.mjs'
import { runEmbeddedScenarios } from '../../bench/embedded/scenario-runs.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const built = fs.existsSync(path.join(root, 'dist/cli/skiff.js')) && fs.existsSync(path.join(root, 'dist/clients/index.js'))
const skip = !built && 'needs npm run build'

/** S1's shape (bench/scenarios.mjs), tiny; `groups` consumer groups, each with one connection. */
const durableAck = (messages: number, groups = 1) => ({
  broker: { workers: 1, fsync: 'always', partitions: 1 },
  topic: 'bench',
  producers: { processes: 1, connections: 1, messages, size: 128, confirm: true, maxInFlight: 1000 },
  consumers: Array.from({ length: groups }, (_, i) => ({ group: `g${i + 1}`, processes: 1, connections: 1, maxInFlight: 1000 })),
  timeLimitMs: 30_000,
})

t.test('skiffmq through the embedded runner: every group gets every message once, with a latency sample each', { skip }, async (t) => {
  const r = await runEmbedded(durableAck(2_000, 2), { adapter: 'skiffmq' })
  t.equal(r.topology, 'embedded')
  t.equal(r.broker, 'skiffmq')
  t.equal(r.durability, 'fsync before confirm')
  t.equal(r.outcome, 'complete')
  t.equal(r.sent, 2_000)
  t.equal(r.confirmed, 2_000)
  t.equal(r.received, r.sent * 2, 'received = sent x groups')
  t.equal(r.receivedFraction, 1)
  t.equal(r.latency.count, r.received, 'one latency sample per delivery')
  // (p99 is the upper bound of an HDR bucket, so it may pass the exact max by a rounding step.)
  t.ok(r.latency.p50 <= r.latency.p99 && r.latency.max > 0, 'latency percentiles in order')
  t.ok(r.msgsPerSec > 0, 'a rate was measured')
  t.equal(Math.round(r.deliveriesPerSec / r.msgsPerSec), 2, 'two deliveries per message')
  t.same(r.connections, { producers: 1, consumers: 2 })
  t.equal(r.warmup, null, 'cold by default')
  if (process.platform === 'linux') t.ok(r.server.peakRssMiB > 0 && r.server.cpuSeconds >= 0, 'the server process measured')
  t.ok(r.timerLateness.count > 0, "the observer process measured the machine's timer lateness")
})

t.test('--warm: a warm-up topic read first, none of it counted', { skip }, async (t) => {
  const r = await runEmbedded(durableAck(2_000), { adapter: 'skiffmq', warm: true })
  t.equal(r.outcome, 'complete')
  t.same(r.warmup, { topic: 'bench-warmup', messages: 2_000 }, 'no more than the measured phase sends')
  t.equal(r.received, 2_000)
  t.equal(r.latency.count, 2_000)
})

t.test('fire and forget with many producer connections in the one thread', { skip }, async (t) => {
  const w = {
    ...durableAck(100),
    producers: { processes: 2, connections: 5, messages: 100, size: 64, confirm: false },
    consumers: [{ group: 'g1', processes: 2, connections: 1, maxInFlight: 1000, ack: 'none' }],
  }
  const r = await runEmbedded(w, { adapter: 'skiffmq' })
  t.match(r.durability, /^no confirm/)
  t.same(r.connections, { producers: 10, consumers: 2 })
  t.equal(r.sent + r.dropped, 1_000)
  t.equal(r.received, r.sent, 'a group of two members shares the messages')
})

/** A temp adapter folder: the real skiffmq adapter, and `nats` whose server cannot start. */
function adapterDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-adapters-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'skiffmq.mjs'), `export * from ${JSON.stringify(pathToFileURL(path.join(root, 'bench/embedded/adapters/skiffmq.mjs')).href)}\n`)
  fs.writeFileSync(
    path.join(dir, 'nats.mjs'),
    [
      "export const name = 'nats'",
      "export const durability = () => 'JetStream file storage'",
      "export const startServer = async () => { throw new Error('nats-server not found: run bench/peers/setup.sh') }",
      'export const prepare = async () => {}',
      'export const producer = async () => ({})',
      'export const consumer = async () => ({})',
    ].join('\n'),
  )
  return dir
}

t.test('a broker whose server cannot start is one reported row, not a throw', { skip }, async (t) => {
  const dir = adapterDir(t)
  const alone = await runEmbedded(durableAck(10), { adapter: 'nats', adapterDir: dir })
  t.equal(alone.outcome, 'not available')
  t.equal(alone.broker, 'nats')
  t.equal(alone.unavailable, 'nats-server not found: run bench/peers/setup.sh')

  const scenario = { id: 'S1', name: 'durable-ack', metric: 'msgsPerSec', runs: () => [{ variant: '500 x 128 B', workload: durableAck(500) }] }
  const rows: Array<Record<string, unknown>> = []
  const failed = await runEmbeddedScenarios(
    { scenarios: [scenario], full: false, repeat: 2, warm: false, against: ['nats'] },
    { base: (s: { id: string }, run: { variant: string }, repeat: number) => ({ scenario: s.id, variant: run.variant, repeat }), keep: (r: Record<string, unknown>) => rows.push(r), adapterDir: dir },
  )
  t.equal(failed, false)
  t.same(
    rows.map((r) => [r.broker, r.repeat, r.outcome]),
    [
      ['skiffmq', 1, 'complete'],
      ['nats', 1, 'not available'],
      ['skiffmq', 2, 'complete'],
    ],
    'skiffmq and nats take turns; nats is not tried again once it could not start',
  )
  t.equal(rows[0].received, 500)

  const missing = await runEmbedded(durableAck(10), { adapter: 'redis', adapterDir: dir })
  t.equal(missing.outcome, 'not available')
  t.match(missing.unavailable, /no bench adapter for redis/)
})
