#!/usr/bin/env node
/**
 * Where a cluster's CPU per message goes on one machine: S1's flow (one
 * producer with 1,000 confirms in flight, one consumer group of one member
 * acking each message, 128 B records, six partitions, fsync always) through
 * five layouts, each warm (the same brokers, a fresh topic per round):
 *
 *   single  one broker, not in a cluster
 *   one     a cluster of three whose every partition has one copy, on broker 1
 *           (brokers 2 and 3 run, idle): what cluster mode costs by itself
 *   spread  a cluster of three, one copy, partitions spread over the brokers:
 *           what splitting the same work over three processes costs
 *   rf2     spread, two copies: what one follower adds
 *   rf3     spread, three copies: replicated S1 as `skiff bench S1 --cluster 3`
 *
 * For each: messages/s, broker CPU per message (every broker process, from
 * /proc), of it on the brokers' main threads, and the brokers' context
 * switches per 1,000 messages, and the largest broker's peak RSS; then each
 * round's rate and CPU, to show how far the brokers still were from their
 * steady state (`perRound` in --json). The producer runs in a child process, the
 * consumer in this one. Rounds after the first are reported (the first warms
 * the brokers' and the clients' code).
 *
 *   node bench/cluster-spread.mjs [--messages N] [--rounds N] [--layouts single,one,spread,rf2,rf3] [--json]
 *
 * Runs the built code (dist/) and Debian's etcd (apt-get install etcd-server).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import readline from 'node:readline'
import { parseArgs } from 'node:util'
import { atExit } from './lib/at-exit.mjs'
import { startBrokerProcess } from './lib/broker-process.mjs'
import { startClusterBroker } from './lib/cluster-process.mjs'
import { startEtcd } from './lib/etcd-process.mjs'
import { textTable } from './lib/format.mjs'
import { CLIENT_MODULE } from './lib/paths.mjs'

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    layouts: { type: 'string', default: 'single,one,spread,rf2,rf3' },
    json: { type: 'boolean', default: false },
  },
})
const MESSAGES = Number(values.messages)
const ROUNDS = Number(values.rounds)
const LAYOUTS = values.layouts.split(',')
const KNOWN = ['single', 'one', 'spread', 'rf2', 'rf3']
function usage(problem) {
  process.stderr.write(`cluster-spread: ${problem}\nusage: node bench/cluster-spread.mjs [--messages N] [--rounds N] [--layouts ${KNOWN.join(',')}] [--json]\n`)
  process.exit(2)
}
for (const l of LAYOUTS) if (!KNOWN.includes(l)) usage(`unknown layout "${l}": one of ${KNOWN.join(', ')}`)
if (!(Number.isInteger(MESSAGES) && MESSAGES >= 1000 && MESSAGES <= 2_000_000)) usage('--messages must be an integer from 1,000 to 2,000,000')
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 2 && ROUNDS <= 10)) usage('--rounds must be an integer from 2 to 10 (the first is not counted)')
const PARTITIONS = 6
const IN_FLIGHT = 1000
const ROUND_LIMIT_MS = 120_000

const { connect } = await import(CLIENT_MODULE)

/**
 * The producer: its own process, as the bench's roles are, so its CPU is not
 * the consumer's; one for all rounds of a layout, so it is as warm as the
 * brokers. Each line on its stdin names a topic to publish the round to; it
 * answers a line when the round's last confirm came.
 */
const PRODUCER = `
import readline from 'node:readline'
const { connect } = await import(process.argv[1])
const [seeds, n] = [process.argv[2].split(','), Number(process.argv[3])]
const client = await connect(seeds)
const producer = client.producer()
const payload = Buffer.alloc(128, 1)
for await (const topic of readline.createInterface({ input: process.stdin })) {
  let batch = []
  for (let i = 0; i < n; i++) {
    batch.push(producer.publish(topic, payload))
    if (batch.length === ${IN_FLIGHT}) { await Promise.all(batch); batch = [] }
  }
  await Promise.all(batch)
  process.stdout.write(topic + '\\n')
}
await client.close()
`

/** The producer process of a layout: publish(topic) resolves once the round is confirmed. */
function startProducer(seeds) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PRODUCER, CLIENT_MODULE, seeds.join(','), String(MESSAGES)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const forget = atExit(() => child.kill('SIGKILL'))
  const lines = readline.createInterface({ input: child.stdout })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    publish(topic) {
      return new Promise((resolve, reject) => {
        const onLine = (line) => {
          if (line !== topic) return
          lines.off('line', onLine)
          resolve()
        }
        lines.on('line', onLine)
        exited.then((code) => reject(new Error(`the producer exited (${code}) during ${topic}`)))
        child.stdin.write(`${topic}\n`)
      })
    },
    async stop() {
      child.stdin.end()
      await exited
      forget()
    },
  }
}

function contextSwitches(pids) {
  let n = 0
  for (const pid of pids) {
    let tasks = []
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`)
    } catch {
      continue // not Linux, or gone
    }
    for (const t of tasks) {
      try {
        const s = fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8')
        n += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0)
      } catch {
        // a thread that ended meanwhile
      }
    }
  }
  return n
}

/** The brokers of a layout, started, with its topics (one per round) made. */
async function startLayout(layout) {
  const topics = Array.from({ length: ROUNDS }, (_, i) => `spread-${i + 1}`)
  if (layout === 'single') {
    const b = await startBrokerProcess({ workers: 1, fsync: 'always' })
    const admin = await connect(b.url)
    for (const t of topics) await admin.admin.createTopic(t, { partitions: PARTITIONS })
    await admin.close()
    return { brokers: [b], etcd: undefined, seeds: [b.url], topics, leaders: null, copies: 1 }
  }
  const etcd = await startEtcd(1)
  const start = (id) => startClusterBroker(etcd, id, { workers: 1, fsync: 'always' }, 'spread')
  const brokers = [await start(1)]
  const copies = layout === 'rf2' ? 2 : layout === 'rf3' ? 3 : 1
  // 'one': the topics are made while broker 1 is the only one, so it holds every partition.
  if (layout !== 'one') brokers.push(await start(2), await start(3))
  const admin = await connect(brokers.map((b) => b.url))
  if (layout !== 'one') {
    for (let i = 0; i < 100 && (await admin.admin.metadata()).brokers.length < 3; i++) await new Promise((r) => setTimeout(r, 100))
  }
  for (const t of topics) await admin.admin.createTopic(t, { partitions: PARTITIONS, replicationFactor: copies })
  const placed = (await admin.admin.metadata([topics[0]])).topics[0].partitions
  await admin.close()
  if (layout === 'one') brokers.push(await start(2), await start(3))
  return { brokers, etcd, seeds: brokers.map((b) => b.url), topics, leaders: placed.map((p) => p.leader), copies: Math.min(...placed.map((p) => p.replicas.length)) }
}

async function round(setup, topic) {
  const pids = setup.brokers.map((b) => b.pid)
  const client = await connect(setup.seeds)
  const consumer = await client.subscribe(topic, { group: 'g1', from: 'earliest', maxInFlight: IN_FLIGHT })
  let got = 0
  let timer
  const all = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${topic}: ${got} of ${MESSAGES} received in ${ROUND_LIMIT_MS} ms`)), ROUND_LIMIT_MS)
    consumer.on('message', (m) => {
      m.ack()
      if (++got === MESSAGES) resolve()
    })
  })
  const cpuBefore = setup.brokers.map((b) => b.sample())
  const switchesBefore = contextSwitches(pids)
  const started = performance.now()
  const produced = setup.producer.publish(topic)
  try {
    await Promise.all([all, produced])
  } finally {
    clearTimeout(timer)
  }
  const ms = performance.now() - started
  const cpuAfter = setup.brokers.map((b) => b.sample())
  const switches = contextSwitches(pids) - switchesBefore
  await client.close()
  const sum = (key) => cpuAfter.reduce((a, s, i) => a + s[key] - cpuBefore[i][key], 0)
  return {
    msgsPerSec: (MESSAGES / ms) * 1000,
    cpuUsPerMsg: (sum('cpuSeconds') / MESSAGES) * 1e6,
    mainUsPerMsg: (sum('mainThreadCpuSeconds') / MESSAGES) * 1e6,
    switchesPer1000: (switches / MESSAGES) * 1000,
    peakRssMiB: Math.max(...cpuAfter.map((x) => x.peakRssMiB ?? 0)),
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = []
for (const layout of LAYOUTS) {
  const setup = await startLayout(layout)
  setup.producer = startProducer(setup.seeds)
  try {
    const rounds = []
    for (const topic of setup.topics) rounds.push(await round(setup, topic))
    const warm = rounds.slice(1)
    const row = { layout, leaders: setup.leaders, copies: setup.copies, rounds: warm.length }
    for (const key of ['msgsPerSec', 'cpuUsPerMsg', 'mainUsPerMsg', 'switchesPer1000']) row[key] = median(warm.map((r) => r[key]))
    row.peakRssMiB = Math.max(...rounds.map((r) => r.peakRssMiB))
    // Every round, the first included: how far from their steady state the brokers still were (V8 compiles
    // a broker's hot paths over its first million or so messages; bench/README.md, Round 21).
    row.perRound = rounds.map((r) => ({ msgsPerSec: Math.round(r.msgsPerSec), cpuUsPerMsg: Number(r.cpuUsPerMsg.toFixed(2)) }))
    results.push(row)
    if (values.json) process.stdout.write(`${JSON.stringify(row)}\n`)
    else process.stderr.write(`${layout}: done\n`)
  } finally {
    await setup.producer.stop()
    await Promise.all(setup.brokers.map((b) => b.stop()))
    setup.etcd?.stop()
  }
}
if (!values.json) {
  const f = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
  process.stdout.write(`${MESSAGES.toLocaleString('en-US')} messages a round, median of ${ROUNDS - 1} warm round${ROUNDS === 2 ? '' : 's'}\n`)
  process.stdout.write(
    textTable(
      ['layout', 'leaders', 'copies', 'msgs/s', 'broker CPU µs/msg', 'of it main threads', 'context switches /1000 msgs', 'peak RSS MiB (largest broker)'],
      results.map((r) => [r.layout, r.leaders ? r.leaders.join(',') : '-', r.copies, f(r.msgsPerSec), f(r.cpuUsPerMsg, 2), f(r.mainUsPerMsg, 2), f(r.switchesPer1000, 1), f(r.peakRssMiB)]),
    ),
  )
  process.stdout.write('\n\nEach round in order, the first (not counted above) included: msgs/s (broker CPU µs/msg)\n')
  for (const r of results) process.stdout.write(`  ${r.layout}: ${r.perRound.map((x) => `${f(x.msgsPerSec)} (${f(x.cpuUsPerMsg, 2)})`).join(', ')}\n`)
  process.stdout.write('\n')
}
