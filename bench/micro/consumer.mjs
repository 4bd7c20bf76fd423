#!/usr/bin/env node
/**
 * Consumer micro-benchmark: CPU of the consuming client per delivered and
 * acked message, as S1's consumer spends it (a group member reading with
 * for-await, acking each message, maxInFlight 1,000), without the producer
 * competing for the same cores.
 *
 *   node bench/micro/consumer.mjs [--messages 200000] [--size 128] [--rounds 5]
 *       [--client dist/clients/index.js] [--compare other/dist/clients/index.js]
 *       [--skiff dist/cli/skiff.js] [--style iterator|handler] [--json]
 *
 * A broker runs in a child process (port 0, a fresh temp data dir); this
 * process first fills a topic with `--messages` confirmed publishes, then
 * runs `--rounds` rounds: each subscribes a new group from 'earliest' on its
 * own connection and reads every message (`--style handler`: through a
 * consumer.on('message') handler instead of for-await). Only the consuming part is timed
 * with process.cpuUsage() (user + system of this process): from subscribe to
 * the last message acked and its ACK flushed. The figure is the median round.
 * Beside it, the broker's CPU per message over the same span (all its threads,
 * from /proc, 10 ms ticks): the broker is the same for every client, so a
 * difference there is what the client's frames (its ACKs) cost the broker.
 *
 * --client and --skiff point at other builds, to compare a change with the
 * code before it: build the old commit elsewhere (`git archive <rev> | tar -x
 * -C /tmp/old`, link node_modules, `npx tsc -p tsconfig.json`) and pass it as
 * --compare: the two clients then take turns, round by round, against the
 * same broker and data, so a busy moment of the machine hits both alike.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { CLIENT_MODULE, SKIFF_BIN, requireBuild } from '../lib/paths.mjs'

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    size: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '5' },
    client: { type: 'string', default: CLIENT_MODULE },
    compare: { type: 'string' },
    skiff: { type: 'string', default: SKIFF_BIN },
    style: { type: 'string', default: 'iterator' },
    json: { type: 'boolean', default: false },
  },
})
const MESSAGES = Math.max(1000, Number(values.messages))
const SIZE = Math.max(8, Number(values.size))
const ROUNDS = Math.min(20, Math.max(1, Number(values.rounds)))
const MAX_IN_FLIGHT = 1000
const ROUND_LIMIT_MS = 120_000
const STYLE = values.style === 'handler' ? 'handler' : 'iterator'

if (values.client === CLIENT_MODULE || values.skiff === SKIFF_BIN) requireBuild()
const clients = [values.client, ...(values.compare ? [values.compare] : [])]
const connects = await Promise.all(clients.map(async (c) => (await import(pathToFileURL(path.resolve(c)).href)).connect))
const connect = connects[0]

/** The broker in its own process; resolves once it logs `listening`. */
async function startBroker() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-micro-consumer-'))
  const child = spawn(process.execPath, [path.resolve(values.skiff), 'broker', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
  process.once('exit', () => {
    child.kill('SIGKILL')
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('broker did not start within 15 s')), 15_000)
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const o = JSON.parse(line)
        if (o.msg === 'listening') {
          clearTimeout(timer)
          resolve(o.port)
        }
      } catch {
        // not a log line
      }
    })
    child.once('exit', (code) => reject(new Error(`broker exited with ${code} before listening`)))
  })
  return { url: `skiff://127.0.0.1:${port}`, stop, cpuMicros: () => procCpuMicros(child.pid) }
}

/** User + system CPU of a process from /proc/<pid>/stat, in µs (null where there is no /proc). */
function procCpuMicros(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[11], fields[12]: utime, stime in clock ticks (USER_HZ, 100 on Linux)
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100
  } catch {
    return null
  }
}

async function fill(url, topic) {
  const client = await connect(url, { name: 'micro-fill' })
  const producer = client.producer({ maxInFlight: 1000 })
  const payload = Buffer.alloc(SIZE, 0x61)
  const window = []
  for (let i = 0; i < MESSAGES; i++) {
    window.push(producer.publish(topic, payload))
    if (window.length >= 1000) await Promise.all(window.splice(0))
  }
  await Promise.all(window)
  await client.close()
}

/** One group reads everything; returns CPU µs per message of this process, and of the broker, while it did. */
async function round(connect, url, topic, group) {
  const client = await connect(url, { name: `micro-consumer-${group}` })
  global.gc?.()
  const brokerStart = broker.cpuMicros()
  const start = process.cpuUsage()
  const consumer = await client.subscribe(topic, { group, from: 'earliest', maxInFlight: MAX_IN_FLIGHT })
  let giveUp
  const timer = setTimeout(() => giveUp(), ROUND_LIMIT_MS)
  let received = 0
  let checksum = 0
  if (STYLE === 'handler') {
    await new Promise((resolve) => {
      giveUp = resolve
      consumer.on('message', (m) => {
        checksum += m.payload[0] + m.offset
        m.ack()
        if (++received === MESSAGES) resolve()
      })
    })
    await consumer.close() // flushes the last ACK
  } else {
    giveUp = () => void consumer.close() // ends the loop
    for await (const m of consumer) {
      checksum += m.payload[0] + m.offset
      m.ack()
      if (++received === MESSAGES) break // leaving the loop closes the consumer: its last ACK is flushed first
    }
  }
  const used = process.cpuUsage(start)
  const brokerEnd = broker.cpuMicros()
  clearTimeout(timer)
  await client.close()
  if (received !== MESSAGES) throw new Error(`round ${group} got ${received} of ${MESSAGES} messages`)
  if (checksum === 0) throw new Error('no payload read')
  return { client: (used.user + used.system) / MESSAGES, broker: brokerStart === null ? NaN : (brokerEnd - brokerStart) / MESSAGES }
}

const broker = await startBroker()
try {
  const topic = 'micro-consumer'
  await fill(broker.url, topic)
  const perRound = clients.map(() => [])
  for (let r = 0; r < ROUNDS; r++) {
    for (let c = 0; c < clients.length; c++) perRound[c].push(await round(connects[c], broker.url, topic, `g${r}-${c}`))
  }
  const median = (xs) => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(3)
  for (let c = 0; c < clients.length; c++) {
    const rounds = perRound[c].map((r) => +r.client.toFixed(3))
    const result = {
      client: path.relative(process.cwd(), path.resolve(clients[c])),
      messages: MESSAGES,
      size: SIZE,
      style: STYLE,
      rounds,
      medianCpuUsPerMessage: median(rounds),
      brokerMedianCpuUsPerMessage: median(perRound[c].map((r) => r.broker)),
    }
    if (values.json) console.log(JSON.stringify(result))
    else {
      console.log(
        `${result.client}: consumer CPU per delivered+acked message ${result.medianCpuUsPerMessage} µs (median of ${ROUNDS} rounds: ${rounds.join(', ')}); ` +
          `broker ${result.brokerMedianCpuUsPerMessage} µs; ${MESSAGES} x ${SIZE} B, ${STYLE}`,
      )
    }
  }
} finally {
  await broker.stop()
}
