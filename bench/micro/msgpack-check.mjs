#!/usr/bin/env node
/**
 * What the MessagePack shape check (protocol/msgpack-check.ts) costs on the
 * legitimate hot bodies: CPU per decode of each body (its frame module's
 * decoder, check included where the build has it) and of the check alone.
 * CPU is process.cpuUsage() (user + system), so other processes on the
 * machine move the figures less than wall time; median of --rounds rounds.
 *
 *   node bench/micro/msgpack-check.mjs [--rounds 7] [--ops 200000] [--json]
 *
 * Bodies: an ACK with one range (what a consumer mostly sends), an ACK with
 * 1,000 per-message offsets, a SUBSCRIBE, a HELLO, and a PUBLISH of 1,000
 * records through the general (MessagePack) path. Runs the built code
 * (dist/): `npm run build` first. On a build without the check, the
 * "check alone" column is empty: that is the figure before it.
 */
import { parseArgs } from 'node:util'
import * as P from '../../dist/protocol/index.js'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, ops: { type: 'string', default: '200000' }, json: { type: 'boolean', default: false } } })
const ROUNDS = Number(values.rounds)
const OPS = Number(values.ops)

const body = (frame) => frame.subarray(P.FRAME_HEADER_BYTES)
const record = P.encodeRecord({ payload: Buffer.alloc(128, 0x61), headers: { trace: 'abc' } })
const records = Buffer.concat(Array.from({ length: 1000 }, () => record))
const CASES = [
  ['ACK, one range', 1, body(P.encodeAck({ sub: 1, kind: 'ack', ranges: [0, 1_000_000, 500] })), P.readAck],
  ['ACK, 1,000 offsets', 1000, body(P.encodeAck({ sub: 1, kind: 'ack', partitions: new Array(1000).fill(0), offsets: Array.from({ length: 1000 }, (_, i) => 1_000_000 + i) })), P.readAck],
  ['SUBSCRIBE', 1, body(P.encodeSubscribe({ corr: 9, sub: 1, topic: 'orders', group: 'billing', start: 'earliest', maxInFlight: 1000, ackTimeoutMs: 30_000 })), P.decodeSubscribe],
  ['HELLO', 1, body(P.encodeHello({ versions: [1], client: 'orders-api', token: 'app-token-0123456789abcdef' })), P.decodeHello],
  // the general path: a body the hand-written PUBLISH reader passes on (fields in another order)
  ['PUBLISH 1,000 records, general path', 1000, P.pack({ topic: 'orders', corr: 7, count: 1000, records }), P.decodePublish],
]

function cpuNsPerOp(fn, b, ops) {
  for (let i = 0; i < Math.min(ops, 20000); i++) fn(b) // warm-up
  const times = []
  for (let r = 0; r < ROUNDS; r++) {
    const c = process.cpuUsage()
    for (let i = 0; i < ops; i++) fn(b)
    const d = process.cpuUsage(c)
    times.push(((d.user + d.system) * 1000) / ops)
  }
  times.sort((x, y) => x - y)
  return times[times.length >> 1]
}

for (const [name, perOp, b, decode] of CASES) {
  const ops = Math.max(200, Math.floor(OPS / perOp))
  const decodeNs = cpuNsPerOp(decode, b, ops)
  const checkNs = P.checkMessagePack ? cpuNsPerOp((x) => P.checkMessagePack(x), b, ops) : undefined
  const row = { case: name, bytes: b.length, decodeNs, checkNs }
  if (values.json) process.stdout.write(JSON.stringify({ micro: 'msgpack-check', node: process.version, ...row }) + '\n')
  else process.stdout.write(`${name.padEnd(36)} ${String(b.length).padStart(7)} B  decode ${decodeNs.toFixed(0).padStart(8)} ns   check alone ${checkNs === undefined ? '       -' : checkNs.toFixed(0).padStart(8)} ns\n`)
}
