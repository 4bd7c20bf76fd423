/**
 * Telemetry role: UDP readings through the client's `telemetry(url)` sender
 * at `rate` readings/s for `durationMs`, paced in 1 ms ticks, each `size`
 * bytes with its send time in the first 8 bytes.
 *
 * Datagrams are counted here by wrapping dgram's Socket#send for this process
 * only, so the count does not depend on what the sender chooses to expose.
 * When the built client has no telemetry() yet, the role reports
 * { unavailable } instead of failing.
 */
import dgram from 'node:dgram'
import { CLIENT_MODULE } from '../lib/paths.mjs'
import { config, cpuSeconds, go, now, reportProgress, runRole, send, sleep } from './common.mjs'

const client = await import(CLIENT_MODULE)
const { url, topic, rate = 50_000, durationMs = 5_000, size = 64 } = config

let datagrams = 0
let datagramBytes = 0
const originalSend = dgram.Socket.prototype.send
dgram.Socket.prototype.send = function countedSend(msg, ...rest) {
  datagrams++
  if (Array.isArray(msg)) for (const m of msg) datagramBytes += m.length
  else if (msg && typeof msg.length === 'number') datagramBytes += typeof rest[0] === 'number' && typeof rest[1] === 'number' ? rest[1] : msg.length
  return originalSend.call(this, msg, ...rest)
}

runRole(async () => {
  if (typeof client.telemetry !== 'function') {
    await send({ t: 'ready' })
    await go
    return { unavailable: 'the built client has no telemetry() (UDP ingest not in this build)' }
  }
  const sender = await client.telemetry(url)
  await send({ t: 'ready' })
  await go
  let sent = 0
  let refused = 0
  const stopProgress = reportProgress(() => sent)
  const buf = Buffer.alloc(Math.max(8, size), 0x74)
  const cpuAtGo = cpuSeconds()
  const startedAt = now()
  const end = startedAt + durationMs
  for (let t = startedAt; t < end; t = now()) {
    const due = Math.floor(((t - startedAt) * rate) / 1000)
    while (sent + refused < due) {
      buf.writeDoubleLE(now(), 0)
      // A sender may report a refused reading by returning false; anything else counts as sent.
      if (sender.send(topic, buf) === false) refused++
      else sent++
    }
    await sleep(1)
  }
  await sender.flush?.()
  await sender.close?.()
  const endedAt = now()
  stopProgress()
  return { sent, refused, datagrams, datagramBytes, startedAt, endedAt, cpuSeconds: cpuSeconds() - cpuAtGo }
})
