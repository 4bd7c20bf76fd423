#!/usr/bin/env node
/**
 * What replication costs the partition workers, per record, without
 * threads, sockets or other processes: a leader's worker (PartitionWorker)
 * takes PUBLISH batches of 1,000 x 128 B records, and after each batch every
 * follower's worker fetches from it and appends the answer, as a cluster's
 * brokers do ('replFetch' on the leader, 'replAppend' on the follower, each
 * op both ways through the thread codec, as the gateways pass them). Timed
 * with process.cpuUsage() (user + system) against the same publishes with no
 * follower, so the difference is the cost of a replica: the leader reading
 * and packing a fetch answer, the follower unpacking it, checking each
 * batch's CRC and records, copying and writing it.
 *
 *   node bench/micro/replication.mjs [--messages N] [--followers N] [--rounds N] [--json]
 *
 * Runs the built code (dist/): `npm run build` first. fsync is 'never' so the
 * figures are CPU only (an fdatasync is time waiting; see fsync.mjs).
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
    followers: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
})
const MESSAGES = Number(values.messages)
const FOLLOWERS = Number(values.followers)
const ROUNDS = Number(values.rounds)
const BATCH = 1000
const TOPIC = 'bench'
const CONFIG = { topic: TOPIC, partitions: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 256 * 1024 * 1024, createdAt: 1 }
if (!(MESSAGES >= BATCH && FOLLOWERS >= 1 && FOLLOWERS <= 4 && ROUNDS >= 1)) throw new Error(`--messages must be at least ${BATCH}, --followers 1 to 4, --rounds at least 1`)

let nextId = 1

/** One broker's worker, its gateway side played here: every op packed and unpacked as the threads do. */
class Broker {
  constructor(self) {
    this.self = self
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-micro-repl-'))
    writeTopicConfig(this.dir, CONFIG)
    this.workerCodec = new ThreadCodec()
    this.gatewayCodec = new ThreadCodec()
    this.replies = new Map()
    const data = { workerId: 0, workers: 1, dataDir: this.dir, fsync: 'never', groupCommitMs: 1000, retentionCheckMs: 0, maxFrame: 1024 * 1024 }
    this.worker = new PartitionWorker({
      data,
      post: (ops) => {
        const ab = this.workerCodec.pack(ops)
        for (const op of this.gatewayCodec.unpack(ab, this.workerCodec.attachments)) if (op.t === 'done' || op.t === 'fail') this.replies.set(op.id, op)
      },
    })
    this.worker.start()
  }

  /** One turn of ops; the reply to `id`, if it was answered in it. */
  async turn(op) {
    const ab = this.gatewayCodec.pack([op])
    this.worker.handle(this.workerCodec.unpack(ab, this.gatewayCodec.attachments))
    this.worker.endTurn()
    await this.worker.syncsDone()
    const reply = this.replies.get(op.id)
    this.replies.clear()
    if (reply?.t === 'fail') throw new Error(`${op.t}: ${reply.code} ${reply.message}`)
    return reply?.result
  }

  close() {
    for (const p of this.worker.ctx.partitions.values()) p.close()
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

const record = encodeRecord({ payload: Buffer.alloc(128, 0x61) })
const records = Buffer.concat(Array.from({ length: BATCH }, () => record))

/** CPU µs per published record with `followers` replicas fetching after each batch. */
async function round(followers) {
  const leader = new Broker(1)
  const replicas = Array.from({ length: followers }, (_, i) => new Broker(i + 2))
  try {
    const isr = [leader.self, ...replicas.map((r) => r.self)]
    if (followers > 0) {
      await leader.turn({ t: 'role', config: CONFIG, partition: 0, self: leader.self, role: 'leader', epoch: 1, isr, minInSync: 1 })
      for (const r of replicas) await r.turn({ t: 'role', config: CONFIG, partition: 0, self: r.self, role: 'follower', epoch: 1, isr, minInSync: 1 })
    }
    const positions = replicas.map(() => ({ endOffset: 0, lastEpoch: -1 }))
    const started = process.cpuUsage()
    for (let sequence = 0, offset = 0; offset < MESSAGES; sequence++, offset += BATCH) {
      await leader.turn({ t: 'pub', id: nextId++, topic: TOPIC, partition: 0, count: BATCH, records, confirm: true, producerId: 7, sequence })
      for (let i = 0; i < replicas.length; i++) {
        const at = positions[i]
        const fetch = [{ topic: TOPIC, partition: 0, leaderEpoch: 1, fetchOffset: at.endOffset, lastFetchedEpoch: at.lastEpoch >= 0 ? at.lastEpoch : undefined }]
        const id = nextId++
        const [answer] = await leader.turn({ t: 'replFetch', id, session: id, follower: replicas[i].self, maxWaitMs: 0, maxBytes: 4 * 1024 * 1024, fetch })
        if (answer.error || answer.divergingEpoch) throw new Error(`fetch refused: ${JSON.stringify(answer.error ?? answer.divergingEpoch)}`)
        positions[i] = await replicas[i].turn({ t: 'replAppend', id: nextId++, topic: TOPIC, partition: 0, epoch: 1, hw: answer.hw, batches: answer.batches, diverging: undefined, groups: answer.groups ?? new Uint8Array(0) })
      }
    }
    const used = process.cpuUsage(started)
    for (let i = 0; i < replicas.length; i++) if (positions[i].endOffset < MESSAGES) throw new Error(`follower ${i} holds ${positions[i].endOffset} of ${MESSAGES} records`)
    return (used.user + used.system) / MESSAGES
  } finally {
    leader.close()
    for (const r of replicas) r.close()
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
await round(0) // warm-up
await round(FOLLOWERS)
const alone = []
const replicated = []
// Taking turns, so a change in the machine's load falls on both.
for (let r = 0; r < ROUNDS; r++) {
  alone.push(await round(0))
  replicated.push(await round(FOLLOWERS))
}
const perReplica = (median(replicated) - median(alone)) / FOLLOWERS
if (values.json) {
  console.log(JSON.stringify({ bench: 'replication', messages: MESSAGES, batch: BATCH, followers: FOLLOWERS, cpuUsPerRecordAlone: median(alone), cpuUsPerRecordReplicated: median(replicated), cpuUsPerReplicaRecord: perReplica, rounds: { alone, replicated } }))
} else {
  console.log(`${MESSAGES} x 128 B in batches of ${BATCH}, CPU µs per published record (median of ${ROUNDS}):`)
  console.log(`  leader alone          ${median(alone).toFixed(2)}  (${alone.map((x) => x.toFixed(2)).join(' ')})`)
  console.log(`  with ${FOLLOWERS} follower${FOLLOWERS > 1 ? 's' : ' '}       ${median(replicated).toFixed(2)}  (${replicated.map((x) => x.toFixed(2)).join(' ')})`)
  console.log(`  each replica's copy   ${perReplica.toFixed(2)} per record (fetch answered, unpacked, checked, appended)`)
}
