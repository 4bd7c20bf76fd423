#!/usr/bin/env node
/**
 * Codec micro-benchmark: what each step of the hot path costs per message in
 * one thread, with no sockets or threads in the way. It runs the built
 * protocol (dist/protocol) and the broker's thread-message packing
 * (dist/broker/thread-messages.js), so it measures what ships.
 *
 *   node bench/micro/codec.mjs [--ms 1000] [--json] [--filter NAME]
 *
 * Each case runs in a fresh process (V8's inline caches and optimised code
 * from one case would otherwise skew the next: the same function measured
 * after another case can be several times slower), for --ms after a warm-up,
 * and reports operations/s, ns per
 * operation and ns per message (a case handling a batch of 1,000 records
 * divides by 1,000). The per-message figure is the one to compare with the
 * end-to-end budget: 350,000 msgs/s through 2 cores leaves ~5.7 µs of CPU per
 * message for everything (producer, gateway, worker, consumer).
 */
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { ROOT_DIR, PROTOCOL_MODULE, requireBuild } from '../lib/paths.mjs'
import { num, textTable } from '../lib/format.mjs'

const { values } = parseArgs({
  options: { ms: { type: 'string', default: '1000' }, json: { type: 'boolean', default: false }, filter: { type: 'string' }, case: { type: 'string' } },
})
const RUN_MS = Number(values.ms)
const WARM_MS = Math.min(300, RUN_MS / 2)
requireBuild()

const P = await import(PROTOCOL_MODULE)
const { ThreadCodec } = await import(path.join(ROOT_DIR, 'dist/broker/thread-codec.js'))
const threads = new ThreadCodec()

const BATCH = 1000
const SIZE = 128
const payload = Buffer.alloc(SIZE, 0x61)
const record = P.encodeRecord({ payload })
const records = Buffer.concat(Array.from({ length: BATCH }, () => record))
const publishFrame = P.encodePublish({ corr: 7, topic: 'bench', count: BATCH, records, confirm: true })
const now = Date.now()
const deliveries = Array.from({ length: BATCH }, (_, i) => [0, 1_000_000 + i, now, 1, record])
const deliverFrame = P.encodeDeliver({ sub: 1, messages: deliveries })
/** What a consumer takes from each message: its numbers and where its payload lies. */
let deliverSum = 0
const deliverSink = {
  message(partition, offset, timestamp, deliveryCount, bytes, keyStart, keyEnd, headers, payloadStart, payloadEnd) {
    deliverSum += offset + deliveryCount + payloadEnd - payloadStart
  },
}
const deliveryView = P.DeliveryView ? new P.DeliveryView() : undefined
const visitDelivery = (v) => {
  deliverSum += v.offset + v.deliveryCount + v.payloadEnd - v.payloadStart
}
const offsets = Array.from({ length: BATCH }, (_, i) => 1_000_000 + i)
const partitions = new Array(BATCH).fill(0)
const ackFrame = P.encodeAck({ sub: 1, kind: 'ack', partitions, offsets })
/** The ACK a consumer mostly sends: one range settling a run of offsets. */
const rangeAckFrame = P.encodeAck({ sub: 1, kind: 'ack', ranges: [0, 1_000_000, 500] })
const subscribeFrame = P.encodeSubscribe({ corr: 9, sub: 1, topic: 'orders', group: 'billing', start: 'earliest', maxInFlight: 1000, ackTimeoutMs: 30_000 })
const body = (frame) => frame.subarray(P.FRAME_HEADER_BYTES)
/** A single-record PUBLISH: the frame a producer without batching would send per message. */
const smallPublish = P.encodePublish({ corr: 7, topic: 'bench', count: 1, records: record, confirm: true })
/** 64 KiB of back-to-back single-record frames, as one socket read would hand them over. */
const stream = Buffer.concat(Array.from({ length: Math.floor(65536 / smallPublish.length) }, () => smallPublish))
const framesInStream = Math.floor(65536 / smallPublish.length)
const pubOps = Array.from({ length: 16 }, (_, i) => ({ t: 'pub', id: i, topic: 'bench', partition: 0, count: BATCH / 16, records: records.subarray(0, (BATCH / 16) * record.length), confirm: true }))
const packedOps = threads.pack(pubOps)

/** name, messages per operation, the operation. */
const CASES = [
  ['encodeRecord (128 B payload)', 1, () => P.encodeRecord({ payload })],
  ['decodeRecord (128 B payload)', 1, () => P.decodeRecord(record)],
  ['encodePublish (1,000 records)', BATCH, () => P.encodePublish({ corr: 7, topic: 'bench', count: BATCH, records, confirm: true })],
  ['decodePublish + walkRecords (1,000)', BATCH, () => P.walkRecords(P.decodePublish(body(publishFrame)).records, BATCH)],
  ['encodePublish (1 record)', 1, () => P.encodePublish({ corr: 7, topic: 'bench', count: 1, records: record, confirm: true })],
  [
    `FrameDecoder: ${framesInStream} single-record frames from one 64 KiB read`,
    framesInStream,
    () => {
      const d = new P.FrameDecoder()
      d.push(stream)
      let n = 0
      while (d.next()) n++
      return n
    },
  ],
  [
    `FrameDecoder + decodePublish per frame (${framesInStream})`,
    framesInStream,
    () => {
      const d = new P.FrameDecoder()
      d.push(stream)
      for (let f = d.next(); f; f = d.next()) P.decodePublish(f.body)
    },
  ],
  ['encodeDeliver (1,000 messages)', BATCH, () => P.encodeDeliver({ sub: 1, messages: deliveries })],
  ['decodeDeliver (1,000 messages)', BATCH, () => P.decodeDeliver(body(deliverFrame))],
  ['readDeliver + forEach (1,000 messages)', BATCH, () => P.readDeliver(body(deliverFrame)).forEach(deliverSink)],
  // What the client's consumer calls: forEachView with one reused view (builds before it had none: forEach).
  [
    'readDeliver + consumer walk (1,000 messages)',
    BATCH,
    P.DeliverFrame.prototype.forEachView ? () => P.readDeliver(body(deliverFrame)).forEachView(deliveryView, visitDelivery) : () => P.readDeliver(body(deliverFrame)).forEach(deliverSink),
  ],
  ['encodeAck (1,000 offsets)', BATCH, () => P.encodeAck({ sub: 1, kind: 'ack', partitions, offsets })],
  ['decodeAck (1,000 offsets)', BATCH, () => P.decodeAck(body(ackFrame))],
  ['readAck (one range)', 1, () => P.readAck(body(rangeAckFrame))],
  ['decodeSubscribe', 1, () => P.decodeSubscribe(body(subscribeFrame))],
  ['encodePublishAck (confirms 1,000 records)', BATCH, () => P.encodePublishAck({ corr: 7, partition: 0, offset: 1_000_000 })],
  ['encodeBatch (1,000 records, CRC)', BATCH, () => P.encodeBatch({ baseOffset: 1_000_000, count: BATCH, timestamp: now, records })],
  ['packOps: 16 pub ops (1,000 records)', BATCH, () => threads.pack(pubOps)],
  ['unpackOps: 16 pub ops (1,000 records)', BATCH, () => threads.unpack(packedOps)],
]

function measure(fn) {
  const warmEnd = performance.now() + WARM_MS
  while (performance.now() < warmEnd) fn()
  let ops = 0
  let batch = 1
  const start = performance.now()
  let elapsed = 0
  // Time in growing batches so the clock is read rarely; bounded by RUN_MS.
  while (elapsed < RUN_MS) {
    for (let i = 0; i < batch; i++) fn()
    ops += batch
    elapsed = performance.now() - start
    if (elapsed < RUN_MS / 20) batch *= 2
  }
  return { ops, seconds: elapsed / 1000 }
}

if (values.case !== undefined) {
  // Child: run one case, print its result as one JSON line.
  const [name, perOp, fn] = CASES[Number(values.case)]
  const { ops, seconds } = measure(fn)
  const opsPerSec = ops / seconds
  process.stdout.write(JSON.stringify({ name, opsPerSec, nsPerOp: 1e9 / opsPerSec, messagesPerSec: opsPerSec * perOp, nsPerMessage: 1e9 / (opsPerSec * perOp) }) + '\n')
} else {
  const rows = []
  for (const [i, [name]] of CASES.entries()) {
    if (values.filter && !name.toLowerCase().includes(values.filter.toLowerCase())) continue
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2Kmicro: ${name}`)
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--case', String(i), '--ms', String(RUN_MS)], { encoding: 'utf8', timeout: RUN_MS + 30_000 })
    const r = JSON.parse(out.trim().split('\n').at(-1))
    rows.push(r)
    if (values.json) process.stdout.write(JSON.stringify({ micro: 'codec', node: process.version, ...r }) + '\n')
  }
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K')
  const table = textTable(
    ['case', 'ops/s', 'ns/op', 'msgs/s', 'ns/msg'],
    rows.map((r) => [r.name, num(r.opsPerSec), num(r.nsPerOp), num(r.messagesPerSec), num(r.nsPerMessage, 1)]),
  )
  ;(values.json ? process.stderr : process.stdout).write(table + '\n')
}
