/**
 * The partition worker's CPU per message, without threads or sockets: one
 * Partition driven the way a worker turn drives it (append a PUBLISH batch,
 * sync, confirm, deliver to one group member, pack the turn's ops for the
 * gateway, then settle the member's acks), in this process, timed with
 * process.cpuUsage(). The figure is the worker thread's share of S1's cost,
 * free of the noise that the other processes of a full bench run add.
 *
 *   node bench/micro/worker.mjs [--messages N] [--batch N] [--ack explicit|none] [--json]
 *
 * Runs the built code (dist/): `npm run build` first. fsync is 'never' so the
 * figure is CPU only (an fdatasync is time waiting, not CPU; see fsync.mjs).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { WorkerContext } from '../../dist/broker/worker/context.js'
import { Outbox } from '../../dist/broker/worker/outbox.js'
import { WorkerMetrics } from '../../dist/broker/observability/worker-metrics.js'
import { packOps } from '../../dist/broker/thread-messages.js'
import { writeTopicConfig } from '../../dist/broker/topic-store.js'
import { encodeRecord } from '../../dist/protocol/records.js'

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '1000' },
    ack: { type: 'string', default: 'explicit' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
})
const MESSAGES = Number(values.messages)
const BATCH = Number(values.batch)
const ROUNDS = Number(values.rounds)

function round() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-micro-worker-'))
  try {
    const topic = 'bench'
    writeTopicConfig(dataDir, { topic, partitions: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 256 * 1024 * 1024, createdAt: Date.now() })
    let packedBytes = 0
    const outbox = new Outbox(
      (ops) => {
        packedBytes += packOps(ops).byteLength
      },
      1024 * 1024,
      () => {},
    )
    const metrics = new WorkerMetrics(0, () => {})
    const ctx = new WorkerContext(dataDir, { mode: 'never' }, outbox, metrics)
    const p = ctx.partition(topic, 0)
    p.subscribe({ conn: 1, sub: 1, group: 'g1', start: 'earliest', startValue: undefined, maxInFlight: BATCH, ackTimeoutMs: 30_000, maxDeliveries: 5, ackNone: values.ack === 'none' })
    const record = encodeRecord({ payload: Buffer.alloc(128, 0x61) })
    const records = Buffer.concat(Array.from({ length: BATCH }, () => record))
    const producerId = 12345
    let offset = 0
    const started = process.cpuUsage()
    for (let seq = 0; offset < MESSAGES; seq++) {
      p.append(seq, records, BATCH, true, producerId, seq)
      p.commit()
      p.pump(Date.now())
      outbox.flush()
      // One ACK of consecutive offsets: one [first, count] range, as the gateway passes it on.
      p.settle(1, 1, 'g1', 'ack', [offset, BATCH], 0)
      offset += BATCH
      p.pump(Date.now())
      metrics.take()
      outbox.flush()
    }
    const used = process.cpuUsage(started)
    p.close()
    return { usPerMessage: (used.user + used.system) / offset, packedBytes }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

const results = []
round() // warm-up
for (let r = 0; r < ROUNDS; r++) results.push(round().usPerMessage)
results.sort((a, b) => a - b)
const median = results[Math.floor(results.length / 2)]
if (values.json) console.log(JSON.stringify({ bench: 'worker', messages: MESSAGES, batch: BATCH, ack: values.ack, cpuUsPerMessage: median, rounds: results }))
else console.log(`worker turn, ${MESSAGES} x 128 B in batches of ${BATCH}, ack ${values.ack}: ${median.toFixed(2)} µs CPU per message (median of ${ROUNDS}: ${results.map((x) => x.toFixed(2)).join(' ')})`)
