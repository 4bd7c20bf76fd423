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
const { url, topic, group, connections = 1, maxInFlight = 1000, ack = 'explicit', timeLimitMs = 120_000 } = config

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

runRole(async () => {
  const clients = []
  const consumers = []
  for (let i = 0; i < connections; i++) {
    const client = await connect(url, { name: `bench-consumer-${group}-${i}` })
    clients.push(client)
    consumers.push(await client.subscribe(topic, { group, from: 'earliest', maxInFlight, ack }))
  }
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
  stopProgress()
  await Promise.all(clients.map((c) => c.close()))
  return { received, firstAt, lastAt, histogram: encodeHistogram(histogram), cpuSeconds: cpu }
})
