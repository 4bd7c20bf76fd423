#!/usr/bin/env node
/**
 * What one hostile frame costs the gateway thread: a broker runs in this
 * process (one worker, a temp data dir, no auth file), a raw socket sends the
 * frame, and the main thread's busy time (performance.eventLoopUtilization)
 * from the write to the broker's answer or close is reported, with the time
 * the answer took and what it was. Cases:
 *   bigint-publish  a 1 MiB PUBLISH whose body is a map keyed by one BigInt
 *                   (msgpackr's extension 0x42), after HELLO
 *   bigint-hello    a 64 KiB HELLO of the same kind, before login
 *   deep-publish    a 1 MiB PUBLISH nesting arrays 1,000,000 deep
 * The raw client's own work (writing the bytes, reading one ERROR) is in the
 * figure too; it is small next to a decode that goes wrong.
 *
 *   node bench/micro/hostile-frames.mjs [--rounds 3] [--json]
 *
 * Runs the built code (dist/): `npm run build` first.
 */
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { startBroker } from '../../dist/broker/index.js'
import { FrameDecoder, Op, SUPPORTED_VERSIONS, decodeError, encodeHello, encodeRawFrame } from '../../dist/protocol/index.js'
import { bigintKeyedMap, nestedArrays } from '../lib/hostile-bodies.mjs'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } } })
const ROUNDS = Number(values.rounds)

const CASES = {
  'bigint-publish': { login: true, frame: () => encodeRawFrame(Op.PUBLISH, bigintKeyedMap(1024 * 1024 - 1)) },
  'bigint-hello': { login: false, frame: () => encodeRawFrame(Op.HELLO, bigintKeyedMap(64 * 1024 - 1)) },
  'deep-publish': { login: true, frame: () => encodeRawFrame(Op.PUBLISH, nestedArrays(1024 * 1024 - 1)) },
}

/** Connect, optionally log in, send `frame`; resolve with the first ERROR's name (or CLOSED) once it comes. */
async function attack(port, login, frame) {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise((r) => socket.once('connect', r))
  const decoder = new FrameDecoder(64 * 1024 * 1024)
  const frames = []
  let closed = false
  let wake = () => {}
  socket.on('data', (c) => {
    decoder.push(c)
    for (let f = decoder.next(); f; f = decoder.next()) frames.push(f)
    wake()
  })
  socket.on('close', () => {
    closed = true
    wake()
  })
  const waitFor = async (match, ms) => {
    const deadline = Date.now() + ms
    while (!frames.some(match) && !closed && Date.now() < deadline) await new Promise((r) => ((wake = r), setTimeout(r, 50)))
    return frames.find(match)
  }
  if (login) {
    socket.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'hostile' }))
    await waitFor((f) => f.opcode === Op.WELCOME, 5000)
  }
  const from = frames.length
  const elu = performance.eventLoopUtilization()
  const started = performance.now()
  socket.write(frame)
  const answer = await waitFor((f) => f.opcode === Op.ERROR && frames.indexOf(f) >= from, 30_000)
  const ms = performance.now() - started
  const busy = performance.eventLoopUtilization(elu).active
  socket.destroy()
  return { answer: answer ? decodeError(answer.body).name : closed ? 'CLOSED' : 'NO_ANSWER', ms, busyMs: busy }
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-hostile-'))
const broker = await startBroker({ port: 0, workers: 1, logLevel: 'silent', dataDir })
try {
  for (const [name, c] of Object.entries(CASES)) {
    const frame = c.frame()
    const runs = []
    for (let r = 0; r < ROUNDS; r++) runs.push(await attack(broker.port, c.login, frame))
    runs.sort((a, b) => a.busyMs - b.busyMs)
    const mid = runs[runs.length >> 1]
    const row = { case: name, frameBytes: frame.length, answer: mid.answer, busyMs: mid.busyMs, answerMs: mid.ms }
    if (values.json) process.stdout.write(JSON.stringify({ micro: 'hostile-frames', node: process.version, ...row }) + '\n')
    else process.stdout.write(`${name.padEnd(16)} ${String(frame.length).padStart(8)} B  gateway busy ${mid.busyMs.toFixed(1).padStart(8)} ms  answered ${mid.answer} after ${mid.ms.toFixed(1)} ms\n`)
  }
} finally {
  await broker.close()
  fs.rmSync(dataDir, { recursive: true, force: true })
}
