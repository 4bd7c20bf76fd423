#!/usr/bin/env node
/**
 * Durable publish + acked consume, end to end: the broker in its own process
 * (built `skiff broker`, default fsync=always), one producer process and one
 * consumer process, all on 127.0.0.1. The producer publishes N confirmed
 * messages of SIZE bytes with at most 1,000 unconfirmed; the consumer, in one
 * group with maxInFlight 1,000, acks each. Reports msgs/s from the first
 * publish to the last ack. Bounded: N messages or 120 s, whichever first.
 *
 *   node bench/durable-ack.mjs [--workers N] [--count N] [--size B] [--fsync P]
 * (run `npm run build` first)
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []))
const role = args.role
const count = Number(args.count ?? 200_000)
const size = Number(args.size ?? 128)
const LIMIT_MS = 120_000
const here = path.dirname(fileURLToPath(import.meta.url))

if (role === 'producer') {
  const { connect } = await import('../dist/clients/index.js')
  const client = await connect(args.url, { name: 'bench-producer' })
  const producer = client.producer({ maxInFlight: 1000 })
  const payload = Buffer.alloc(size, 0x61)
  const start = Date.now()
  for (let i = 0; i < count && Date.now() - start < LIMIT_MS; i++) {
    const p = producer.publish('bench', payload)
    if (producer.unconfirmed >= 1000) await p
  }
  await producer.flush()
  process.stdout.write(JSON.stringify({ start, end: Date.now() }) + '\n')
  await client.close()
} else if (role === 'consumer') {
  const { connect } = await import('../dist/clients/index.js')
  const client = await connect(args.url, { name: 'bench-consumer' })
  const consumer = await client.subscribe('bench', { group: 'bench', from: 'earliest', maxInFlight: 1000 })
  process.stdout.write('ready\n')
  let n = 0
  const start = Date.now()
  for await (const m of consumer) {
    m.ack()
    if (++n >= count || Date.now() - start > LIMIT_MS) break
  }
  process.stdout.write(JSON.stringify({ received: n, end: Date.now() }) + '\n')
  await client.close()
} else {
  const workers = args.workers ?? String(Math.max(1, os.availableParallelism() - 1))
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-'))
  const broker = spawn(process.execPath, [path.join(here, '../dist/broker/cli/skiff.js'), 'broker', '--port', '0', '--data-dir', dataDir, '--workers', workers, '--fsync', args.fsync ?? 'always', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve) => {
    readline.createInterface({ input: broker.stdout }).on('line', (l) => {
      try {
        const o = JSON.parse(l)
        if (o.msg === 'listening') resolve(o.port)
      } catch {}
    })
  })
  const url = `skiff://127.0.0.1:${port}`
  const run = (r) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', r, '--url', url, '--count', String(count), '--size', String(size)], { stdio: ['ignore', 'pipe', 'inherit'] })
    const lines = []
    const rl = readline.createInterface({ input: child.stdout })
    rl.on('line', (l) => lines.push(l))
    return { child, lines, done: new Promise((resolve) => child.on('exit', () => resolve(lines))) }
  }
  const consumer = run('consumer')
  while (!consumer.lines.includes('ready')) await new Promise((r) => setTimeout(r, 10))
  const producer = run('producer')
  const [p, c] = await Promise.all([producer.done, consumer.done])
  const pr = JSON.parse(p.at(-1))
  const cr = JSON.parse(c.at(-1))
  const seconds = (cr.end - pr.start) / 1000
  console.log(JSON.stringify({ scenario: 'durable-ack', workers: Number(workers), fsync: args.fsync ?? 'always', count, size, received: cr.received, seconds, msgsPerSec: Math.round(cr.received / seconds), node: process.version, cpus: os.cpus().length }))
  broker.kill('SIGTERM')
  await new Promise((r) => broker.on('exit', r))
  fs.rmSync(dataDir, { recursive: true, force: true })
}
