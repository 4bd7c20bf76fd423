/**
 * The partition worker's CPU per hostile ACK (issue 13, item 3): a member
 * sends ACKs naming 100,000 offsets ({ranges: [[p, 0, 100000]]}, 35 bytes on
 * the wire) while holding little. One Partition in this process, driven as a
 * worker turn drives it (kinds ack and progress, alternating), timed with
 * process.cpuUsage(). Scenarios:
 *
 *   empty     the attacker's member holds nothing
 *   one       it holds one message
 *   crowded   it holds one message, and another member of its group holds
 *             --held more (10,000): the group's outstanding deliveries are
 *             then the bound
 *
 *   node bench/micro/ack-flood.mjs [--acks N] [--held N] [--json]
 *
 * Runs the built code (dist/): `npm run build` first. fsync is 'never'.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { WorkerContext } from '../../dist/broker/worker/context.js'
import { Outbox } from '../../dist/broker/worker/outbox.js'
import { WorkerMetrics } from '../../dist/broker/observability/worker-metrics.js'
import { writeTopicConfig } from '../../dist/broker/topic-store.js'
import { encodeRecord } from '../../dist/protocol/records.js'

const { values } = parseArgs({
  options: {
    acks: { type: 'string', default: '2000' },
    held: { type: 'string', default: '10000' },
    json: { type: 'boolean', default: false },
  },
})
const ACKS = Number(values.acks)
const HELD = Number(values.held)
const HOSTILE = [0, 100_000]
const SUB = { group: 'g', start: 'earliest', startValue: undefined, ackTimeoutMs: 600_000, maxDeliveries: 5, ackNone: false }

function scenario(name) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-micro-ackflood-'))
  try {
    writeTopicConfig(dataDir, { topic: 't', partitions: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 64 * 1024 * 1024, createdAt: Date.now() })
    const outbox = new Outbox(() => {}, 1024 * 1024, () => {})
    const metrics = new WorkerMetrics(0, () => {})
    const p = new WorkerContext(dataDir, { mode: 'never' }, outbox, metrics).partition('t', 0)
    const record = encodeRecord({ payload: Buffer.alloc(16, 0x61) })
    const deliver = (count) => {
      if (count === 0) return
      p.append(0, Buffer.concat(Array.from({ length: count }, () => record)), count, false)
      p.pump(Date.now())
      outbox.flush()
    }
    p.subscribe({ ...SUB, conn: 1, sub: 1, maxInFlight: 1, creditPool: 1 })
    deliver(name === 'empty' ? 0 : 1)
    if (name === 'crowded') {
      p.subscribe({ ...SUB, conn: 2, sub: 1, maxInFlight: HELD, creditPool: 2 })
      deliver(HELD)
    }
    // The attacker holds offset 0 ('one', 'crowded') and names 1..100,000, never its own message:
    // it stays held, so the walk never stops early. 'crowded' names the other member's offsets too.
    const attack = name === 'empty' ? HOSTILE : [1, 100_000]
    const started = process.cpuUsage()
    for (let i = 0; i < ACKS; i++) {
      p.settle(1, 1, 'g', 'ack', attack, 0)
      p.settle(1, 1, 'g', 'progress', attack, 0)
    }
    const used = process.cpuUsage(started)
    p.close()
    return (used.user + used.system) / (2 * ACKS)
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

const out = {}
for (const name of ['empty', 'one', 'crowded']) {
  scenario(name) // warm-up
  out[name] = scenario(name)
}
if (values.json) console.log(JSON.stringify({ bench: 'ack-flood', acks: ACKS, held: HELD, cpuUsPerAck: out }))
else for (const [name, us] of Object.entries(out)) console.log(`hostile ACK (100,000 offsets named), ${name}: ${us.toFixed(2)} µs CPU per ACK`)
