#!/usr/bin/env node
/**
 * FrameDecoder (dist/protocol/frame.js), both sides' hot path, in four cases:
 *   64k    128-byte frames (133 on the wire) in 64 KiB chunks, as a busy socket hands them over
 *   1m     1 MiB frames (a DELIVER of 16 records of 64 KiB) in 64 KiB chunks: CPU and page
 *          faults per frame (each frame comes out in a buffer of its own, new memory)
 *   1b     a 64 KiB frame fed one byte per chunk, each chunk a Buffer of its own (as a socket
 *          read of one byte is): CPU per byte
 *   memory a 1 MiB frame declared, all but its last byte fed one byte per chunk: how much
 *          memory the decoder keeps per byte received (heap + array buffers after a GC,
 *          give or take a few MiB of heap noise), and its own count (heldBytes) where
 *          the decoder has one
 * CPU is process.cpuUsage() (user + system), median of --rounds after a warm-up.
 *
 *   node --expose-gc bench/micro/frame-decoder.mjs [--rounds 5] [--json]
 *
 * Runs the built code (dist/): `npm run build` first.
 */
import { parseArgs } from 'node:util'
import { FrameDecoder, encodeRawFrame } from '../../dist/protocol/index.js'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, json: { type: 'boolean', default: false } } })
const ROUNDS = Number(values.rounds)
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc (the memory case needs it)')

function cpuMicros(fn) {
  const c = process.cpuUsage()
  fn()
  const d = process.cpuUsage(c)
  return d.user + d.system
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}

/** 128-byte frames, back to back, cut into 64 KiB chunks (frames straddle chunk ends). */
function chunked64k() {
  const frame = encodeRawFrame(0x10, Buffer.alloc(128, 0x61))
  const stream = Buffer.concat(Array.from({ length: 64 * 32 }, () => frame)) // ~8.5 MiB
  const chunks = []
  for (let at = 0; at < stream.length; at += 65536) chunks.push(Buffer.from(stream.subarray(at, at + 65536)))
  return { chunks, frames: 64 * 32 }
}

function run64k({ chunks, frames }, repeat) {
  let n = 0
  for (let r = 0; r < repeat; r++) {
    const d = new FrameDecoder()
    for (const c of chunks) {
      d.push(c)
      while (d.next()) n++
    }
  }
  if (n !== frames * repeat) throw new Error(`decoded ${n} frames, expected ${frames * repeat}`)
}

/** `n` frames of 1 MiB, each cut into 64 KiB chunks (the same chunks every time: only the decoder's own buffers are new). */
function runLarge(n) {
  const frame = encodeRawFrame(0x22, Buffer.alloc(1024 * 1024 - 1, 0x63))
  const chunks = []
  for (let at = 0; at < frame.length; at += 65536) chunks.push(Buffer.from(frame.subarray(at, at + 65536)))
  const d = new FrameDecoder(2 * 1024 * 1024)
  let got = 0
  const faults = process.resourceUsage().minorPageFault
  const micros = cpuMicros(() => {
    for (let i = 0; i < n; i++) for (const c of chunks) {
      d.push(c)
      while (d.next()) got++
    }
  })
  if (got !== n) throw new Error(`decoded ${got} large frames, expected ${n}`)
  return { micros, faults: process.resourceUsage().minorPageFault - faults }
}

/** One frame of `bodyBytes` pushed one byte at a time (a new 1-byte Buffer per push). */
function runBytes(frame) {
  const d = new FrameDecoder(2 * 1024 * 1024)
  let got = 0
  for (let i = 0; i < frame.length; i++) {
    const b = Buffer.allocUnsafeSlow(1)
    b[0] = frame[i]
    d.push(b)
    if (d.next()) got++
  }
  if (got !== 1) throw new Error('the frame did not come out')
}

function heldPerByte() {
  const frame = encodeRawFrame(0x10, Buffer.alloc(1024 * 1024 - 1, 0x61))
  const fed = frame.length - 1
  globalThis.gc()
  const before = process.memoryUsage()
  const d = new FrameDecoder(2 * 1024 * 1024)
  for (let i = 0; i < fed; i++) {
    const b = Buffer.allocUnsafeSlow(1)
    b[0] = frame[i]
    d.push(b)
    if (d.next()) throw new Error('the frame is not complete yet')
  }
  globalThis.gc()
  const after = process.memoryUsage()
  const held = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers)
  if (d.bufferedBytes < fed - 4) throw new Error('lost bytes')
  // The decoder's own count of the bytes it keeps in buffers, where it has one.
  return { measured: held / fed, counted: d.heldBytes === undefined ? undefined : d.heldBytes / fed }
}

const data = chunked64k()
run64k(data, 3) // warm-up
const frame64k = encodeRawFrame(0x10, Buffer.alloc(64 * 1024 - 1, 0x61))
runBytes(frame64k)

const rows = []
const repeat = 8
const t64 = []
for (let r = 0; r < ROUNDS; r++) t64.push(cpuMicros(() => run64k(data, repeat)))
rows.push({ case: '128 B frames in 64 KiB chunks', unit: 'ns per frame', value: (median(t64) * 1000) / (data.frames * repeat) })
runLarge(20) // warm-up
const large = Array.from({ length: ROUNDS }, () => runLarge(100))
rows.push({ case: '1 MiB frames in 64 KiB chunks', unit: 'us per frame', value: median(large.map((l) => l.micros)) / 100 })
rows.push({ case: '  the same, page faults', unit: 'minor page faults per frame', value: median(large.map((l) => l.faults)) / 100 })
const t1 = []
for (let r = 0; r < ROUNDS; r++) t1.push(cpuMicros(() => runBytes(frame64k)))
rows.push({ case: '64 KiB frame in 1-byte chunks', unit: 'ns per byte', value: (median(t1) * 1000) / frame64k.length })
const held = heldPerByte()
rows.push({ case: '1 MiB frame in 1-byte chunks, partly received', unit: 'bytes of memory per byte received (heap + buffers after GC)', value: held.measured })
if (held.counted !== undefined) rows.push({ case: '  the same, by the decoder\'s heldBytes', unit: 'bytes held per byte received', value: held.counted })

for (const r of rows) {
  if (values.json) process.stdout.write(JSON.stringify({ micro: 'frame-decoder', node: process.version, ...r }) + '\n')
  else process.stdout.write(`${r.case.padEnd(48)} ${r.value.toFixed(1).padStart(10)} ${r.unit}\n`)
}
