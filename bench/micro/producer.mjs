#!/usr/bin/env node
/**
 * Producer micro-benchmark: the client's CPU per publish against a real
 * broker, with the broker's CPU kept out of the figure.
 *
 *   node bench/micro/producer.mjs [--dist dist] [--dist /tmp/other-build ...]
 *        [--messages 200000] [--warmup 50000] [--rounds 5] [--size 128]
 *        [--max-in-flight 1000] [--mode confirm|send] [--fsync always]
 *
 * The broker (startBroker, port 0, a temp data dir, one worker) runs in a child
 * process. Each round forks one producer process per `--dist` build (taken in
 * turn, so a compared pair sees the same machine load); the producer connects,
 * publishes `--warmup` records untimed (JIT warm-up), then `--messages` records
 * of `--size` bytes the way bench/roles/producer.mjs's confirmedLoop does
 * (publish() of one Buffer, at most `--max-in-flight` unconfirmed, waiting for
 * the oldest when full) or, with `--mode send`, as its fireAndForgetLoop
 * (send(), dropping when 8 MiB wait for the socket, a yield every 1,000
 * records and after a drop; dropped records count in the division too). It reports process.cpuUsage() (user + system) over the timed
 * part divided by the records, and the share of that time V8 spent in GC.
 * The figure per build is the median of the rounds.
 *
 * To compare with an older commit, build it aside and pass both builds:
 *   git archive <commit> | tar -x -C /tmp/old && ln -s "$PWD/node_modules" /tmp/old/node_modules
 *   (cd /tmp/old && npx tsc -p tsconfig.json --outDir /tmp/old-dist)
 *   npm run build && node bench/micro/producer.mjs --dist /tmp/old-dist --dist dist
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PerformanceObserver } from 'node:perf_hooks'
import { ROOT_DIR } from '../lib/paths.mjs'

const SELF = fileURLToPath(import.meta.url)
const { values } = parseArgs({
  options: {
    dist: { type: 'string', multiple: true },
    messages: { type: 'string', default: '200000' },
    warmup: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '5' },
    size: { type: 'string', default: '128' },
    'max-in-flight': { type: 'string', default: '1000' },
    mode: { type: 'string', default: 'confirm' },
    fsync: { type: 'string', default: 'always' },
    role: { type: 'string' },
    url: { type: 'string' },
  },
})
const distDir = (d) => path.resolve(ROOT_DIR, d)

if (values.role === 'broker') await brokerRole()
else if (values.role === 'producer') await producerRole()
else await main()

/** The broker child: start, tell the parent the port, stop on 'stop' (or when the parent goes). */
async function brokerRole() {
  const { startBroker } = await import(path.join(distDir(values.dist[0]), 'broker/index.js'))
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-micro-producer-'))
  const broker = await startBroker({ port: 0, host: '127.0.0.1', workers: 1, fsync: values.fsync, logLevel: 'silent', dataDir })
  const stop = async () => {
    await broker.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
    process.exit(0)
  }
  process.on('message', (m) => m === 'stop' && stop())
  process.on('disconnect', stop)
  process.send({ port: broker.port })
}

/** One producer process: warm up, then time `messages` publishes. */
async function producerRole() {
  const { connect } = await import(path.join(distDir(values.dist[0]), 'clients/index.js'))
  const messages = Number(values.messages)
  const maxInFlight = Number(values['max-in-flight'])
  const client = await connect(values.url, { name: 'micro-producer' })
  const producer = client.producer({ maxInFlight })
  const payload = Buffer.alloc(Math.max(8, Number(values.size)), 0x61)
  const loop = values.mode === 'send' ? sendLoop : confirmLoop
  await loop(producer, payload, Number(values.warmup), maxInFlight)
  let gcMs = 0
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration
  })
  gc.observe({ entryTypes: ['gc'] })
  const cpu = process.cpuUsage()
  await loop(producer, payload, messages, maxInFlight)
  const used = process.cpuUsage(cpu)
  gc.disconnect()
  await client.close()
  const cpuUs = used.user + used.system
  process.send({ usPerMessage: cpuUs / messages, gcShare: (gcMs * 1000) / cpuUs, dropped: producer.stats.dropped.full })
}

async function confirmLoop(producer, payload, count, maxInFlight) {
  const window = []
  let head = 0
  for (let i = 0; i < count; i++) {
    payload.writeDoubleLE(i, 0)
    window.push(producer.publish('micro', payload))
    if (window.length - head >= maxInFlight) {
      await window[head]
      window[head++] = undefined
      if (head > 100_000) window.splice(0, head), (head = 0)
    }
  }
  await Promise.all(window.slice(head))
}

/** As bench/roles/producer.mjs's fireAndForgetLoop: send() (whenFull 'drop'), a yield every 1,000 and after a drop. */
async function sendLoop(producer, payload, count) {
  const turn = () => new Promise((r) => setImmediate(r))
  for (let i = 0; i < count; i++) {
    payload.writeDoubleLE(i, 0)
    if (!producer.send('micro', payload)) await turn()
    if (i % 1000 === 999) await turn()
  }
  await producer.flush()
}

function child(args) {
  const p = fork(SELF, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const first = new Promise((resolve, reject) => {
    p.once('message', resolve)
    p.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code} before answering`)))
  })
  return { p, first }
}

async function main() {
  const dists = values.dist ?? ['dist']
  const pass = ['--messages', values.messages, '--warmup', values.warmup, '--size', values.size, '--max-in-flight', values['max-in-flight'], '--mode', values.mode]
  const broker = child(['--role', 'broker', '--dist', dists.at(-1), '--fsync', values.fsync])
  const { port } = await broker.first
  const url = `skiff://127.0.0.1:${port}`
  const results = dists.map(() => [])
  try {
    for (let r = 0; r < Number(values.rounds); r++) {
      for (let d = 0; d < dists.length; d++) {
        const prod = child(['--role', 'producer', '--dist', dists[d], '--url', url, ...pass])
        const res = await prod.first
        results[d].push(res)
        const drops = res.dropped > 0 ? `, ${res.dropped} dropped (whenFull 'drop')` : ''
        console.log(`round ${r + 1} ${dists[d]}: ${res.usPerMessage.toFixed(2)} µs/msg CPU, GC ${(res.gcShare * 100).toFixed(0)}%${drops}`)
      }
    }
  } finally {
    broker.p.send('stop')
  }
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(`\n${values.mode}, ${values.messages} x ${values.size} B, maxInFlight ${values['max-in-flight']}: producer-process CPU per message, median of ${values.rounds}`)
  dists.forEach((d, i) => {
    const us = median(results[i].map((x) => x.usPerMessage))
    const gc = median(results[i].map((x) => x.gcShare))
    console.log(`  ${d}: ${us.toFixed(2)} µs/msg (GC ${(gc * 100).toFixed(0)}% of CPU)`)
  })
}
