/**
 * A worker hands the gateway at most TURN_DELIVERY_BYTES of deliveries per
 * turn, however many groups read a backlog at once, and the groups left over
 * go first in the next turn. Driven in-process: one partition on real files,
 * its outbox's messages caught, turns run by hand (pump, then flush) as the
 * worker's end of turn does.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Outbox, TURN_DELIVERY_BYTES, toBack } from '../../broker/worker/outbox.js'
import { WorkerContext } from '../../broker/worker/context.js'
import { WorkerMetrics } from '../../broker/observability/worker-metrics.js'
import { writeTopicConfig } from '../../broker/topic-store.js'
import { encodeRecord } from '../../protocol/index.js'
import type { FromWorker } from '../../broker/thread-messages.js'

const MiB = 1024 * 1024
const GROUPS = 8

t.test('toBack moves the first n entries of a map to its end', async (t) => {
  const m = new Map([['a', 1], ['b', 2], ['c', 3], ['d', 4]])
  toBack(m, 2)
  t.same([...m.keys()], ['c', 'd', 'a', 'b'])
  toBack(m, 0)
  t.same([...m.keys()], ['c', 'd', 'a', 'b'])
})

t.test('eight groups reading a 64 KiB-record backlog: each turn stays within the budget, and every group is served', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-turn-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  writeTopicConfig(dataDir, { topic: 'big', partitions: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 64 * MiB, createdAt: Date.now() })
  const turns: number[] = []
  const servedBy: Set<number>[] = []
  const outbox = new Outbox(
    (ops: FromWorker[]) => {
      let bytes = 0
      const conns = new Set<number>()
      for (const op of ops) {
        if (op.t !== 'out') continue
        bytes += op.bytes.length
        conns.add(op.conn)
      }
      if (bytes > 0) {
        turns.push(bytes)
        servedBy.push(conns)
      }
    },
    4 * MiB,
    () => {},
  )
  const ctx = new WorkerContext(dataDir, { mode: 'never' }, outbox, new WorkerMetrics(0, () => {}))
  t.teardown(() => {
    for (const p of ctx.partitions.values()) p.close()
  })
  const p = ctx.partition('big', 0)
  const record = encodeRecord({ payload: Buffer.alloc(64 * 1024, 0x62) })
  for (let i = 0; i < 100; i++) p.append(0, record, 1, false)
  for (let g = 0; g < GROUPS; g++) {
    p.subscribe({ conn: g + 1, sub: 1, group: `g${g}`, start: 'earliest', startValue: undefined, maxInFlight: 1000, creditPool: g + 1, ackTimeoutMs: 30_000, maxDeliveries: 5, ackNone: false })
  }
  // Without the budget one turn would carry every group's 4 MiB: 32 MiB.
  let more = true
  for (let turn = 0; turn < 20 && more; turn++) {
    more = p.pump(Date.now())
    outbox.flush()
  }
  t.notOk(more, 'the backlog was delivered within 20 turns')
  const frameOverhead = 1 * MiB // the check comes before each read of up to 1 MiB
  for (const [i, bytes] of turns.entries()) {
    t.ok(bytes <= TURN_DELIVERY_BYTES + frameOverhead, `turn ${i}: ${(bytes / MiB).toFixed(1)} MiB handed to the gateway (budget ${TURN_DELIVERY_BYTES / MiB} MiB)`)
  }
  t.ok(turns.length >= 2, `the deliveries took ${turns.length} turns`)
  const everyone = new Set(servedBy.flatMap((s) => [...s]))
  t.equal(everyone.size, GROUPS, 'every group was delivered to')
  // The groups the first turn left out are the first served in the second.
  const firstTurn = servedBy[0]!
  const leftOut = [...Array(GROUPS).keys()].map((g) => g + 1).filter((c) => !firstTurn.has(c))
  t.ok(leftOut.length > 0, `the first turn served ${firstTurn.size} of ${GROUPS} groups`)
  for (const c of leftOut) t.ok(servedBy[1]!.has(c), `group of connection ${c}, left out of turn 0, is served in turn 1`)
})
