/**
 * The partition worker's CPU per message, without threads or sockets: the
 * worker's own turn (PartitionWorker) driven in this process with one
 * partition and one group member: a PUBLISH batch op, end of turn (sync,
 * confirm, deliver, pack the turn's ops for the gateway), then the member's
 * ACK op and the next end of turn, timed with process.cpuUsage(). The figure
 * is the worker thread's share of S1's cost, free of the noise that the other
 * processes of a full bench run add. Being the worker's turn itself, it
 * counts what a hand-made copy of the turn left out: the confirms' own
 * message ahead of the deliveries (Outbox.sendReplies) and the metrics op
 * packed with each turn (about +0.05 µs per message with ack none).
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
import { PartitionWorker } from '../../dist/broker/worker/partition-worker.js'
import { ThreadCodec } from '../../dist/broker/thread-codec.js'
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

// The gateway's end of the thread: every turn's ops are packed as the worker's thread packs them.
const codec = new ThreadCodec()

function round() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-micro-worker-'))
  try {
    const topic = 'bench'
    writeTopicConfig(dataDir, { topic, partitions: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 256 * 1024 * 1024, createdAt: Date.now() })
    let packedBytes = 0
    const worker = new PartitionWorker({
      data: { workerId: 0, workers: 1, dataDir, fsync: 'never', groupCommitMs: 1000, retentionCheckMs: 0, maxFrame: 1024 * 1024 },
      post: (ops) => {
        packedBytes += codec.pack(ops).byteLength
      },
    })
    const sub = { t: 'sub', id: 1, conn: 1, sub: 1, topic, partition: 0, group: 'g1', start: 'earliest', startValue: undefined, maxInFlight: BATCH, creditPool: 1, ackTimeoutMs: 30_000, maxDeliveries: 5, ackNone: values.ack === 'none' }
    worker.handle([sub])
    worker.endTurn()
    const record = encodeRecord({ payload: Buffer.alloc(128, 0x61) })
    const records = Buffer.concat(Array.from({ length: BATCH }, () => record))
    const producerId = 12345
    let offset = 0
    const started = process.cpuUsage()
    for (let seq = 0; offset < MESSAGES; seq++) {
      worker.handle([{ t: 'pub', id: seq + 2, topic, partition: 0, count: BATCH, records, confirm: true, producerId, sequence: seq }])
      worker.endTurn()
      // One ACK of consecutive offsets: one [first, count] range, as the gateway passes it on.
      worker.handle([{ t: 'settle', conn: 1, sub: 1, topic, partition: 0, group: 'g1', kind: 'ack', ranges: [offset, BATCH], delayMs: 0 }])
      offset += BATCH
      worker.endTurn()
    }
    const used = process.cpuUsage(started)
    for (const p of worker.ctx.partitions.values()) p.close()
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
