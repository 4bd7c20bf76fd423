/**
 * One broker's adapter end to end, without the embedded runner: start the
 * server, prepare(), open one consumer per group, publish N messages through
 * producer() (a window of 1,000 unconfirmed publishes, or send() with a yield
 * every 1,000 for --fire-and-forget), wait until every group has every message
 * (bounded), then print msgs/s and the server's peak RSS and stop it.
 *
 *   node bench/peers/smoke.mjs <nats|redis|rabbitmq|skiffmq> [--messages N] [--size B]
 *        [--groups G] [--fire-and-forget] [--timeout S]
 *
 * Producer and consumers share this one process, so the figure is a check
 * that the adapter moves data at a plausible rate, not a bench result.
 * Each payload starts with its index (uint32), so a group that got a message
 * twice or missed one is told apart from one that got them all.
 */
import { parseArgs } from 'node:util'
import { loadAdapter } from '../embedded/adapter.mjs'
import { sampleProcess } from '../lib/proc-stats.mjs'

const WINDOW = 1_000
const QUIET_MS = 2_000

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    messages: { type: 'string', default: '10000' },
    size: { type: 'string', default: '128' },
    groups: { type: 'string', default: '1' },
    'fire-and-forget': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '120' },
  },
})
const name = positionals[0]
if (name === undefined) {
  console.error('usage: node bench/peers/smoke.mjs <nats|redis|rabbitmq> [--messages N] [--size B] [--groups G] [--fire-and-forget] [--timeout S]')
  process.exit(2)
}
const messages = positiveInt('messages', values.messages)
const size = positiveInt('size', values.size)
const groupCount = positiveInt('groups', values.groups)
const timeoutMs = positiveInt('timeout', values.timeout) * 1000
const confirm = !values['fire-and-forget']
if (size < 4) fail('--size must be at least 4 (each payload starts with its uint32 index)')

const topic = 'smoke'
const groups = Array.from({ length: groupCount }, (_, i) => `g${i + 1}`)
const workload = {
  topic,
  producers: { processes: 1, connections: 1, messages, size, confirm, maxInFlight: WINDOW },
  consumers: groups.map((group) => ({ group, processes: 1, connections: 1, maxInFlight: confirm ? WINDOW : 10_000, ...(confirm ? {} : { ack: 'none' }) })),
}

const adapter = await loadAdapter(name)
const server = await adapter.startServer(workload)
let exitCode = 0
try {
  await adapter.prepare(server.connectInfo, { topic, partitions: 1, groups })
  const seen = groups.map(() => new Uint8Array(messages))
  const counts = groups.map(() => ({ unique: 0, duplicates: 0, wrongSize: 0 }))
  let lastArrival = 0
  const consumers = await Promise.all(
    workload.consumers.map((c, g) =>
      adapter.consumer(server.connectInfo, { topic, group: c.group, maxInFlight: c.maxInFlight, ack: c.ack ?? 'each' }, (payload) => {
        lastArrival = performance.now()
        const count = counts[g]
        if (payload.length !== size) count.wrongSize++
        const index = payload.readUInt32BE(0)
        if (index >= messages || seen[g][index] === 1) count.duplicates++
        else {
          seen[g][index] = 1
          count.unique++
        }
      }),
    ),
  )
  const producer = await adapter.producer(server.connectInfo, { topic, confirm, maxInFlight: WINDOW })
  const payload = Buffer.alloc(size, 0x61)

  const start = performance.now()
  let accepted = 0
  if (confirm) {
    // A sliding window: at most WINDOW publishes unconfirmed; a confirm wakes the loop.
    let inFlight = 0
    let wake = null
    let failure = null
    const settled = (err) => {
      inFlight--
      if (err !== undefined && failure === null) failure = err
      if (wake !== null) {
        const w = wake
        wake = null
        w()
      }
    }
    for (let i = 0; i < messages; i++) {
      while (inFlight >= WINDOW) await new Promise((resolve) => (wake = resolve))
      if (failure !== null) throw failure
      payload.writeUInt32BE(i, 0)
      inFlight++
      producer.publish(payload).then(() => settled(), settled)
    }
    while (inFlight > 0) await new Promise((resolve) => (wake = resolve))
    if (failure !== null) throw failure
    accepted = messages
  } else {
    for (let i = 0; i < messages; i++) {
      payload.writeUInt32BE(i, 0)
      if (producer.send(payload)) accepted++
      if (i % 1_000 === 999) await new Promise((resolve) => setImmediate(resolve))
    }
    await producer.flush()
  }
  const published = performance.now()

  // Done when every group has every accepted message; fire-and-forget may lose
  // some, so it also ends after QUIET_MS with nothing new.
  const deadline = start + timeoutMs
  for (;;) {
    if (counts.every((c) => c.unique >= accepted)) break
    const now = performance.now()
    if (now > deadline) break
    if (!confirm && lastArrival > 0 && now - Math.max(lastArrival, published) > QUIET_MS) break
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const end = Math.max(lastArrival, published)
  const seconds = (end - start) / 1000
  const stats = sampleProcess(server.pid)
  await producer.close()
  await Promise.all(consumers.map((c) => c.close()))

  const complete = counts.every((c) => c.unique === messages && c.duplicates === 0 && c.wrongSize === 0)
  const deliveries = counts.reduce((sum, c) => sum + c.unique, 0)
  console.log(`${name}: ${adapter.durability(workload)}`)
  console.log(`  ${messages} x ${size} B, ${groupCount} group${groupCount > 1 ? 's' : ''}, ${confirm ? 'confirmed (window 1,000)' : 'fire-and-forget'}`)
  console.log(`  sent: ${accepted} accepted of ${messages}`)
  for (const [g, c] of counts.entries()) {
    console.log(`  ${groups[g]}: ${c.unique} received${c.duplicates ? `, ${c.duplicates} duplicates` : ''}${c.wrongSize ? `, ${c.wrongSize} of the wrong size` : ''}`)
  }
  // Per second of messages that reached a group (the first; every group when complete).
  console.log(`  ${Math.round(counts[0].unique / seconds).toLocaleString('en-US')} msgs/s received, first publish to last arrival, in ${seconds.toFixed(2)} s` + (groupCount > 1 ? ` (${Math.round(deliveries / seconds).toLocaleString('en-US')} deliveries/s)` : ''))
  console.log(`  ${((counts[0].unique * size) / seconds / 1e6).toFixed(1)} MB/s of payload (10^6 bytes)`)
  if (!confirm) console.log(`  received fraction: ${(counts[0].unique / messages).toFixed(4)}`)
  console.log(`  server peak RSS: ${stats.peakRssMiB === null ? 'n/a' : `${stats.peakRssMiB.toFixed(1)} MiB`}, CPU ${stats.cpuSeconds === null ? 'n/a' : `${stats.cpuSeconds.toFixed(2)} s`}`)
  if (!complete) {
    console.log(confirm ? '  INCOMPLETE: a group is missing confirmed messages' : '  (fire-and-forget: losses are possible by design)')
    if (confirm) exitCode = 1
  }
} catch (err) {
  console.error(`${name}: ${err.stack ?? err}`)
  exitCode = 1
} finally {
  await server.stop()
}
process.exit(exitCode)

function positiveInt(flag, text) {
  const n = Number(text)
  if (!Number.isInteger(n) || n <= 0) fail(`--${flag} must be a positive integer, got "${text}"`)
  return n
}

function fail(message) {
  console.error(`smoke: ${message}`)
  process.exit(2)
}
