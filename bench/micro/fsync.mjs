#!/usr/bin/env node
/**
 * What the disk allows a durable confirm: append `--bytes` to a file and
 * fdatasync it, `--count` times, in a temp dir on the same file system as the
 * broker's data (default: the OS temp dir; `--dir` to choose). Prints the
 * fdatasync latency percentiles and the ceiling they put on S1.
 *
 *   node bench/micro/fsync.mjs [--count 300] [--bytes 140000] [--dir /path] [--json]
 *
 * Why it bounds S1: a confirm is sent only after the fdatasync that covers the
 * record, so a producer with W unconfirmed records at most sustains
 * W / (mean confirm latency) records/s (Little's law), and confirm latency is
 * at least one fdatasync. With W = 1,000 and a 3.7 ms fdatasync that is
 * 270,000 msgs/s before any CPU is spent. 140,000 bytes is one PUBLISH of 1,000
 * records of 128 B in the log's batch encoding.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { num } from '../lib/format.mjs'

const { values } = parseArgs({
  options: { count: { type: 'string', default: '300' }, bytes: { type: 'string', default: '140000' }, dir: { type: 'string' }, json: { type: 'boolean', default: false } },
})
const count = Math.min(10_000, Math.max(10, Number(values.count)))
const bytes = Number(values.bytes)
const dir = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'skiff-fsync-'))
const WINDOW = 1000
const LIMIT_MS = 60_000

try {
  const fd = fs.openSync(path.join(dir, 'segment.log'), 'a')
  const buf = Buffer.alloc(bytes, 0x61)
  const ms = []
  const start = performance.now()
  for (let i = 0; i < count && performance.now() - start < LIMIT_MS; i++) {
    fs.writeSync(fd, buf)
    const t = performance.now()
    fs.fdatasyncSync(fd)
    ms.push(performance.now() - t)
  }
  fs.closeSync(fd)
  ms.sort((a, b) => a - b)
  const at = (p) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))]
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length
  const r = { bytes, count: ms.length, mean, p50: at(50), p90: at(90), p99: at(99), max: ms.at(-1), s1CeilingMsgsPerSec: WINDOW / (mean / 1000) }
  if (values.json) process.stdout.write(JSON.stringify({ micro: 'fsync', dir: values.dir ?? os.tmpdir(), ...r }) + '\n')
  else {
    process.stdout.write(`fdatasync after ${num(bytes)} B appends, ${r.count} times in ${values.dir ?? os.tmpdir()}:\n`)
    process.stdout.write(`  mean ${r.mean.toFixed(2)} ms  p50 ${r.p50.toFixed(2)} ms  p90 ${r.p90.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  max ${r.max.toFixed(2)} ms\n`)
    process.stdout.write(`  S1 ceiling at ${num(WINDOW)} unconfirmed: ${num(r.s1CeilingMsgsPerSec)} msgs/s (window / mean fdatasync)\n`)
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
