#!/usr/bin/env node
/**
 * Broker memory while a backlog is published, and after it goes idle.
 *
 *   node bench/micro/backlog-rss.mjs [--messages 1000000] [--size 32]
 *        [--partitions 1] [--workers 1] [--max-in-flight 2000] [--idle-s 30]
 *        [--fsync always] [--dist dist]
 *
 * Starts the built `skiff broker` as its own process (port 0 picked here, a
 * temp data dir), publishes `--messages` records of `--size` bytes with
 * confirms (at most `--max-in-flight` unconfirmed) from this process, and
 * nobody consumes them. It samples the broker's VmRSS (/proc/<pid>/status):
 * at start, every 100 ms while publishing (peak), right after the last
 * confirm, and after `--idle-s` seconds with the client still connected but
 * silent. The idle figure is what the broker gives back by itself.
 *
 * Prints one line of JSON (MiB) at the end, after a human-readable table.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { parseArgs } from 'node:util'
import { ROOT_DIR, brokerNodeFlags } from '../lib/paths.mjs'
import { freePort } from '../lib/free-port.mjs'

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    size: { type: 'string', default: '32' },
    partitions: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1' },
    'max-in-flight': { type: 'string', default: '2000' },
    'idle-s': { type: 'string', default: '30' },
    fsync: { type: 'string', default: 'always' },
    dist: { type: 'string', default: 'dist' },
  },
})
const MESSAGES = Number(values.messages)
const SIZE = Number(values.size)
const WINDOW = Number(values['max-in-flight'])
const IDLE_MS = Number(values['idle-s']) * 1000
const dist = path.resolve(ROOT_DIR, values.dist)
const MiB = 1024 * 1024

const rss = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? (Number(m[1]) * 1024) / MiB : NaN
  } catch {
    return NaN
  }
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-backlog-rss-'))
const port = await freePort()
const child = spawn(
  process.execPath,
  [...(await brokerNodeFlags(dist)), path.join(dist, 'cli/skiff.js'), 'broker', '--port', String(port), '--http-port', '0', '--data-dir', dataDir, '--workers', values.workers, '--fsync', values.fsync],
  { stdio: ['ignore', 'pipe', 'inherit'] },
)
const cleanup = () => {
  child.kill('SIGKILL')
  fs.rmSync(dataDir, { recursive: true, force: true })
}
process.on('exit', cleanup)
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('the broker did not start within 20 s')), 20_000)
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.includes('"listening"')) {
      clearTimeout(timer)
      resolve()
    }
  })
  child.once('exit', (code) => reject(new Error(`the broker exited (${code})`)))
})

const { connect } = await import(path.join(dist, 'clients/index.js'))
const client = await connect(`skiff://127.0.0.1:${port}`, { reconnect: false, requestTimeoutMs: 120_000 })
await client.admin.createTopic('backlog', { partitions: Number(values.partitions) })
const atStart = rss(child.pid)

let peak = atStart
const sampler = setInterval(() => (peak = Math.max(peak, rss(child.pid))), 100)
const producer = client.producer({ maxInFlight: WINDOW })
const payload = Buffer.alloc(SIZE, 'x')
const started = performance.now()
for (let sent = 0; sent < MESSAGES; ) {
  const n = Math.min(WINDOW, MESSAGES - sent)
  await Promise.all(Array.from({ length: n }, () => producer.publish('backlog', payload)))
  sent += n
}
const publishS = (performance.now() - started) / 1000
const afterPublish = rss(child.pid)
peak = Math.max(peak, afterPublish)
clearInterval(sampler)

await new Promise((r) => setTimeout(r, IDLE_MS))
const afterIdle = rss(child.pid)
await client.close()

const result = {
  messages: MESSAGES,
  size: SIZE,
  partitions: Number(values.partitions),
  workers: Number(values.workers),
  publishS: Math.round(publishS * 10) / 10,
  rssStartMiB: Math.round(atStart),
  rssPeakMiB: Math.round(peak),
  rssAfterPublishMiB: Math.round(afterPublish),
  rssAfterIdleMiB: Math.round(afterIdle),
  idleS: IDLE_MS / 1000,
}
console.log(`published ${MESSAGES} x ${SIZE} B in ${result.publishS} s (${Math.round(MESSAGES / publishS)} msg/s)`)
console.log(`broker RSS: start ${result.rssStartMiB} MiB, peak ${result.rssPeakMiB} MiB, after publishing ${result.rssAfterPublishMiB} MiB, after ${result.idleS} s idle ${result.rssAfterIdleMiB} MiB`)
console.log(JSON.stringify(result))
process.exit(0)
