#!/usr/bin/env node
/**
 * What the disk allows a durable confirm, in a temp dir on the same file
 * system as the broker's data (default: the OS temp dir; `--dir` to choose).
 *
 *   node bench/micro/fsync.mjs [--count 300] [--bytes 140000] [--dir /path] [--json]
 *   node bench/micro/fsync.mjs --every-ms 1 --bytes 1400 [--count 5000] [--dir /path] [--json]
 *
 * Back to back (the default): append `--bytes` and fdatasync it, `--count`
 * times; prints the fdatasync latency percentiles and the ceiling they put on
 * S1. Why it bounds S1: a confirm is sent only after the fdatasync that
 * covers the record, so a producer with W unconfirmed records at most
 * sustains W / (mean confirm latency) records/s (Little's law), and confirm
 * latency is at least one fdatasync. With W = 1,000 and a 3.7 ms fdatasync
 * that is 270,000 msgs/s before any CPU is spent. 140,000 bytes is one
 * PUBLISH of 1,000 records of 128 B in the log's batch encoding.
 *
 * Paced (`--every-ms N`): append `--bytes` every N ms, `--count` times, and
 * sync as the broker does under fsync 'always' (log-syncer.ts): one
 * fdatasync at a time, started when something was appended and none runs,
 * covering what was appended before it began. Prints the time from each
 * append to the end of the sync that covers it: the part of a confirmed,
 * delivered record's latency that is the disk's. S5 appends 10 records of
 * 128 B (about 1,400 B) every millisecond, so `--every-ms 1 --bytes 1400`
 * is the floor this disk puts under S5's p99, before any CPU or scheduling.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { num } from '../lib/format.mjs'
import { exactPercentiles as percentiles } from '../lib/percentiles.mjs'

const { values } = parseArgs({
  options: {
    count: { type: 'string' },
    bytes: { type: 'string', default: '140000' },
    'every-ms': { type: 'string' },
    dir: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})
const everyMs = values['every-ms'] === undefined ? undefined : Number(values['every-ms'])
const count = Math.min(100_000, Math.max(10, Number(values.count ?? (everyMs === undefined ? 300 : 5000))))
const bytes = Number(values.bytes)
function usage(problem) {
  process.stderr.write(`fsync: ${problem}\nusage: node bench/micro/fsync.mjs [--count N] [--bytes N] [--every-ms N] [--dir PATH] [--json]\n`)
  process.exit(2)
}
if (!(Number.isInteger(bytes) && bytes >= 1 && bytes <= 64 * 1024 * 1024)) usage('--bytes must be an integer from 1 to 67,108,864')
if (everyMs !== undefined && !(Number.isInteger(everyMs) && everyMs >= 1 && everyMs <= 1000)) usage('--every-ms must be an integer from 1 to 1,000')
const dir = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'skiff-fsync-'))
const WINDOW = 1000
const LIMIT_MS = 60_000

const line = (r) => `  mean ${r.mean.toFixed(2)} ms  p50 ${r.p50.toFixed(2)} ms  p90 ${r.p90.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  p99.9 ${r.p999.toFixed(2)} ms  max ${r.max.toFixed(2)} ms\n`
const where = values.dir ?? os.tmpdir()

/** Back to back: each append fdatasynced before the next. */
function backToBack(fd, buf) {
  const ms = []
  const start = performance.now()
  for (let i = 0; i < count && performance.now() - start < LIMIT_MS; i++) {
    fs.writeSync(fd, buf)
    const t = performance.now()
    fs.fdatasyncSync(fd)
    ms.push(performance.now() - t)
  }
  const r = percentiles(ms)
  return { ...r, s1CeilingMsgsPerSec: WINDOW / (r.mean / 1000) }
}

/** Paced: an append every `everyMs`, group commit as log-syncer.ts does; resolves with the append-to-durable times. */
function paced(fd, buf) {
  return new Promise((resolve) => {
    const ms = []
    const waiting = [] // [end offset, appended at], oldest first
    let written = 0
    let appended = 0
    let syncing = false
    /** Bytes the last sync started covers: anything past it waits for the next. */
    let covered = 0
    const sync = () => {
      if (syncing || written === covered) return
      syncing = true
      const covers = (covered = written)
      fs.fdatasync(fd, (err) => {
        if (err) throw err
        syncing = false
        const now = performance.now()
        while (waiting.length > 0 && waiting[0][0] <= covers) ms.push(now - waiting.shift()[1])
        if (appended === count && waiting.length === 0) resolve(ms)
        else sync()
      })
    }
    const start = performance.now()
    const timer = setInterval(() => {
      fs.writeSync(fd, buf)
      written += buf.length
      waiting.push([written, performance.now()])
      sync()
      if (++appended === count || performance.now() - start > LIMIT_MS) {
        clearInterval(timer)
        if (appended < count) resolve(ms) // the time limit: what was measured so far
      }
    }, everyMs)
  })
}

try {
  const fd = fs.openSync(path.join(dir, 'segment.log'), 'a')
  const buf = Buffer.alloc(bytes, 0x61)
  if (everyMs === undefined) {
    const r = backToBack(fd, buf)
    if (values.json) process.stdout.write(JSON.stringify({ micro: 'fsync', dir: where, bytes, ...r }) + '\n')
    else {
      process.stdout.write(`fdatasync after ${num(bytes)} B appends, ${r.count} times in ${where}:\n${line(r)}`)
      process.stdout.write(`  S1 ceiling at ${num(WINDOW)} unconfirmed: ${num(r.s1CeilingMsgsPerSec)} msgs/s (window / mean fdatasync)\n`)
    }
  } else {
    const r = percentiles(await paced(fd, buf))
    if (values.json) process.stdout.write(JSON.stringify({ micro: 'fsync-paced', dir: where, bytes, everyMs, ...r }) + '\n')
    else process.stdout.write(`append of ${num(bytes)} B every ${everyMs} ms to the end of the fdatasync that covers it (one at a time, group commit), ${r.count} appends in ${where}:\n${line(r)}`)
  }
  fs.closeSync(fd)
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
