#!/usr/bin/env node
/**
 * What a hop between threads costs on this machine, when the thread on the
 * other side is asleep, as it is in S1's lockstep rounds (bench/README.md,
 * Rounds 16 and 24):
 *
 *   node bench/micro/thread-wake.mjs [--count 300] [--gap-ms 2] [--json]
 *
 * - syscall: `fs.fstatSync` of an open file, the price of entering the kernel
 *   for nearly nothing;
 * - pool: `fs.fstat` handed to the libuv pool, as the log's fdatasync is:
 *   the call itself (waking a pool thread) and the time until its callback
 *   runs (the pool thread's wake-up and the loop's);
 * - worker: `postMessage` to a worker thread that echoes it back, as the
 *   gateway's ops to a partition worker: the call itself and the round trip.
 *
 * Each sample waits `--gap-ms` after the previous one, so the other thread
 * has gone back to sleep. A replicated batch crosses about ten such hops
 * between the producer's publish and its confirm, where one broker's crosses
 * about six, so on a machine whose hops are dear the cluster's share of one
 * broker's rate is lower: it is a property of the machine, to compare before
 * comparing two machines' bench figures.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { exactPercentiles } from '../lib/percentiles.mjs'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '300' },
    'gap-ms': { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
})
function usage(problem) {
  process.stderr.write(`thread-wake: ${problem}\nusage: node bench/micro/thread-wake.mjs [--count N] [--gap-ms N] [--json]\n`)
  process.exit(2)
}
const count = Number(values.count)
const gapMs = Number(values['gap-ms'])
if (!(Number.isInteger(count) && count >= 10 && count <= 100_000)) usage('--count must be an integer from 10 to 100,000')
if (!(Number.isInteger(gapMs) && gapMs >= 0 && gapMs <= 100)) usage('--gap-ms must be an integer from 0 to 100')
const LIMIT_MS = 60_000

/** Percentiles in µs, exact (sorted samples). */
function summary(us) {
  const { count, p50, p90, p99, max } = exactPercentiles(us)
  return { count, p50, p90, p99, max }
}
const pause = () => new Promise((resolve) => setTimeout(resolve, gapMs))
const since = (t) => (performance.now() - t) * 1000

/** `count` samples of `once` (which resolves with [call µs, until-answered µs]), a pause before each, within LIMIT_MS. */
async function sample(once) {
  const call = []
  const answered = []
  const start = performance.now()
  for (let i = 0; i < count && performance.now() - start < LIMIT_MS; i++) {
    await pause()
    const [c, a] = await once()
    call.push(c)
    answered.push(a)
  }
  return { call: summary(call), answered: summary(answered) }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-wake-'))
const fd = fs.openSync(path.join(dir, 'probe'), 'w')
const worker = new Worker('require("node:worker_threads").parentPort.on("message", function (m) { this.postMessage(m) })', { eval: true })
try {
  await new Promise((resolve) => worker.once('online', resolve))
  const syscall = await sample(async () => {
    const t = performance.now()
    fs.fstatSync(fd)
    const us = since(t)
    return [us, us]
  })
  const pool = await sample(
    () =>
      new Promise((resolve) => {
        const t = performance.now()
        let call = 0
        fs.fstat(fd, (err) => {
          if (err) throw err
          resolve([call, since(t)])
        })
        call = since(t)
      }),
  )
  const thread = await sample(
    () =>
      new Promise((resolve) => {
        const t = performance.now()
        let call = 0
        worker.once('message', () => resolve([call, since(t)]))
        worker.postMessage(0)
        call = since(t)
      }),
  )
  const r = { micro: 'thread-wake', gapMs, syscallUs: syscall.call, poolCallUs: pool.call, poolAnsweredUs: pool.answered, workerCallUs: thread.call, workerRoundTripUs: thread.answered }
  if (values.json) process.stdout.write(JSON.stringify(r) + '\n')
  else {
    const line = (name, s) => `  ${name.padEnd(34)} p50 ${s.p50.toFixed(1)}  p90 ${s.p90.toFixed(1)}  p99 ${s.p99.toFixed(1)}  max ${s.max.toFixed(1)} µs\n`
    process.stdout.write(`hops between threads, ${syscall.call.count} samples each, ${gapMs} ms apart:\n`)
    process.stdout.write(line('fstatSync (a syscall)', r.syscallUs))
    process.stdout.write(line('fs.fstat to the pool: the call', r.poolCallUs))
    process.stdout.write(line('fs.fstat to the pool: answered', r.poolAnsweredUs))
    process.stdout.write(line('postMessage to a worker: the call', r.workerCallUs))
    process.stdout.write(line('postMessage to a worker: echoed', r.workerRoundTripUs))
  }
} finally {
  await worker.terminate()
  fs.closeSync(fd)
  fs.rmSync(dir, { recursive: true, force: true })
}
