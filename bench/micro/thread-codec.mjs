#!/usr/bin/env node
/**
 * The gateway <-> worker op packing, per op: the binary layout of the hot ops
 * (a ThreadCodec of dist/broker/thread-codec.js, as the pool owns one) against the plain
 * msgpackr packing it replaced (copied below), on ops shaped like S1's:
 *   pub     one PUBLISH batch of 1,000 x 128 B records for one partition
 *   settle  one ACK range
 *   out     140 KB of DELIVER frames for one connection (~1,000 messages)
 *   done    a publish confirm (its base offset)
 * Each case packs, unpacks and does both, in a bounded loop timed with
 * process.cpuUsage() (user + system), median of 5 rounds after a warm-up.
 * Figures are CPU µs per op, and per message for the ops that carry 1,000.
 *
 *   node bench/micro/thread-codec.mjs [--scale 1] [--rounds 5] [--json]
 *
 * --scale multiplies the ops per round (2,000 of the 140 KB ones, 50,000 of the small).
 *
 * Runs the built code (dist/): `npm run build` first.
 */
import { parseArgs } from 'node:util'
import { Packr, Unpackr } from 'msgpackr'
import { ThreadCodec } from '../../dist/broker/thread-codec.js'
import { encodeRecord } from '../../dist/protocol/records.js'

const { values } = parseArgs({
  options: { scale: { type: 'string', default: '1' }, rounds: { type: 'string', default: '5' }, json: { type: 'boolean', default: false } },
})
const SCALE = Number(values.scale)
const ROUNDS = Number(values.rounds)

// The packing before the binary layout, as it was in broker/thread-messages.ts.
const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })
function msgpackPackOps(ops) {
  const packed = packr.pack(ops)
  const ab = new ArrayBuffer(packed.length)
  new Uint8Array(ab).set(packed)
  return ab
}
function msgpackUnpackOps(ab) {
  return unpackr.unpack(new Uint8Array(ab))
}

const record = encodeRecord({ payload: Buffer.alloc(128, 0x61) })
const records = Buffer.concat(Array.from({ length: 1000 }, () => record))
const OUT_BYTES = Buffer.alloc(140_000, 0x62)
let id = 2 ** 32
/** name, messages per op, ops per round, a fresh op (ids grow, as in the broker). */
const OP_KINDS = [
  ['pub 1000 x 128 B', 1000, 2000, () => ({ t: 'pub', id: id++, topic: 'bench', partition: 0, count: 1000, records, confirm: true, producerId: 12345, sequence: id })],
  ['settle 1 range', 1000, 50_000, () => ({ t: 'settle', conn: 7, sub: 1, topic: 'bench', partition: 0, group: 'g1', kind: 'ack', ranges: [id++, 1000], delayMs: 0 })],
  ['out 140 KB', 1000, 2000, () => ({ t: 'out', conn: 7, bytes: OUT_BYTES })],
  ['done (confirm)', 1000, 50_000, () => ({ t: 'done', id: id++, result: 1_000_000 + id })],
]

/**
 * CPU µs per op of `fn` over n ops, one op per turn as the broker sends it
 * under load, and the page faults per op (a fresh ArrayBuffer of 140 KB is
 * fresh memory to the kernel: its faults, system time, can cost more than
 * the copy into it).
 */
function timed(n, fn) {
  const faults = process.resourceUsage().minorPageFault
  const started = process.cpuUsage()
  for (let i = 0; i < n; i++) fn(i)
  const used = process.cpuUsage(started)
  return { us: (used.user + used.system) / n, faults: (process.resourceUsage().minorPageFault - faults) / n }
}

/** The round of median CPU. */
function median(fn) {
  fn() // warm-up
  const results = []
  for (let r = 0; r < ROUNDS; r++) results.push(fn())
  results.sort((a, b) => a.us - b.us)
  return results[Math.floor(results.length / 2)]
}

const codec = new ThreadCodec()
const CODECS = {
  msgpackr: [msgpackPackOps, msgpackUnpackOps],
  binary: [(ops) => codec.pack(ops), (ab) => codec.unpack(ab)],
}

const rows = []
for (const [name, perOp, count, make] of OP_KINDS) {
  const n = Math.max(1, Math.round(count * SCALE))
  for (const [codec, [pack, unpack]] of Object.entries(CODECS)) {
    const ops = Array.from({ length: 64 }, () => [make()])
    const packed = ops.map(pack)
    let sink = 0
    const packed1 = median(() => timed(n, (i) => (sink += pack(ops[i & 63]).byteLength)))
    const unpacked = median(() => timed(n, (i) => (sink += unpack(packed[i & 63]).length)))
    const both = median(() => timed(n, (i) => (sink += unpack(pack(ops[i & 63])).length)))
    rows.push({ op: name, codec, packUs: packed1.us, unpackUs: unpacked.us, bothUs: both.us, bothUsPerMessage: both.us / perOp, packFaults: packed1.faults, bytes: packed[0].byteLength, sink })
  }
}

if (values.json) console.log(JSON.stringify({ bench: 'thread-codec', scale: SCALE, rounds: ROUNDS, rows: rows.map(({ sink, ...r }) => r) }))
else {
  console.log(`gateway <-> worker op packing, CPU µs per op and per message (median of ${ROUNDS})`)
  console.log('op                codec      pack    unpack   both    both/msg  bytes   faults/pack')
  for (const r of rows) {
    console.log(
      `${r.op.padEnd(18)}${r.codec.padEnd(9)}${r.packUs.toFixed(3).padStart(7)}${r.unpackUs.toFixed(3).padStart(9)}${r.bothUs.toFixed(3).padStart(8)}${r.bothUsPerMessage.toFixed(5).padStart(10)}  ${String(r.bytes).padEnd(8)}${r.packFaults.toFixed(1)}`,
    )
  }
}
