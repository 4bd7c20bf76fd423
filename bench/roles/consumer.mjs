/**
 * Consumer role: `connections` members of consumer group `group` on `topic`
 * in this process, each its own client connection, reading from the earliest
 * offset with `maxInFlight` credits and acking every message (with `ack:
 * 'none'`, the fire-and-forget scenario's, there is nothing to ack: the broker
 * settles on sending and the client returns credits as messages are taken).
 * Each message's publish->receive latency (the stamp in its first 8 bytes)
 * goes into one HDR histogram. Runs until the parent says stop (it knows when
 * every group has everything) or the time limit.
 */
import { CLIENT_MODULE } from '../lib/paths.mjs'
import { createHistogram, encodeHistogram, recordMs } from '../lib/histogram.mjs'
import { config, cpuSeconds, go, now, reportProgress, runRole, send, whenStopped } from './common.mjs'

const { connect } = await import(CLIENT_MODULE)
const { url, topic, group, connections = 1, maxInFlight = 1000, ack = 'explicit', timeLimitMs = 120_000, warmupTopic } = config
/** How often the count of warm-up messages goes to the parent before go. */
const WARMING_MS = 100

let received = 0
let firstAt = 0
let lastAt = 0
const histogram = createHistogram()

async function drain(consumer) {
  for await (const m of consumer) {
    const t = now()
    if (received++ === 0) firstAt = t
    lastAt = t
    if (m.payload.length >= 8) recordMs(histogram, t - m.payload.readDoubleLE(0))
    if (ack === 'explicit') m.ack()
  }
}

/** The warm-up topic's messages: read and acked like the measured ones, only counted. */
async function drainWarmup(consumer, counter) {
  for await (const m of consumer) {
    counter.n++
    if (ack === 'explicit') m.ack()
  }
}

runRole(async () => {
  const clients = []
  const consumers = []
  const warmers = []
  for (let i = 0; i < connections; i++) {
    const client = await connect(url, { name: `bench-consumer-${group}-${i}` })
    clients.push(client)
    consumers.push(await client.subscribe(topic, { group, from: 'earliest', maxInFlight, ack }))
    if (warmupTopic) warmers.push(await client.subscribe(warmupTopic, { group, from: 'earliest', maxInFlight, ack }))
  }
  const warmed = { n: 0 }
  const warmLoops = warmers.map((c) => drainWarmup(c, warmed))
  const warming = warmupTopic ? setInterval(() => send({ t: 'warming', n: warmed.n }), WARMING_MS) : undefined
  go.then(() => {
    // The measured phase has only the measured topic.
    clearInterval(warming)
    for (const c of warmers) void c.close()
  })
  await send({ t: 'ready' })
  const stopProgress = reportProgress(() => received)
  const loops = consumers.map(drain)
  let timer
  const stop = () => {
    clearTimeout(timer)
    for (const c of consumers) void c.close()
  }
  whenStopped(stop)
  await go
  const cpuAtGo = cpuSeconds()
  timer = setTimeout(stop, timeLimitMs)
  await Promise.all(loops)
  const cpu = cpuSeconds() - cpuAtGo
  await Promise.all(warmLoops)
  stopProgress()
  await Promise.all(clients.map((c) => c.close()))
  return { received, firstAt, lastAt, histogram: encodeHistogram(histogram), cpuSeconds: cpu }
})
