/**
 * Producer role: `connections` client connections in this process, each
 * publishing `messages` records of `size` bytes to `topic`, all at once after
 * the parent's go.
 *
 * - confirm: publish() with at most `maxInFlight` unconfirmed per connection
 *   (a sliding window: the loop waits for the oldest confirm when full).
 * - fire-and-forget: send(); a record send() refuses (too much queued) is
 *   counted as dropped, not retried, and the loop yields so the socket drains.
 * - rate: publish at `rate` records/s per process for `durationMs`, in 1 ms
 *   ticks (timers go no finer); a full window still makes the loop wait, so
 *   the achieved rate is reported.
 * Every payload starts with its send time (float64 ms, see common.now) for the
 * consumers' latency histogram; the rest is filler.
 */
import { CLIENT_MODULE } from '../lib/paths.mjs'
import { config, cpuSeconds, go, now, reportProgress, runRole, send, sleep, turn, warmup } from './common.mjs'

const { connect } = await import(CLIENT_MODULE)
const { url, topic, connections = 1, messages = 0, size = 128, confirm = true, maxInFlight = 1000, rate = 0, durationMs = 0, timeLimitMs = 120_000 } = config
/** Fire-and-forget loops yield to the event loop after this many sends. */
const SEND_SLICE = 1000

let sent = 0
let dropped = 0
let confirmed = 0

function payload() {
  const buf = Buffer.alloc(Math.max(8, size), 0x61)
  return buf
}

async function confirmedLoop(producer, topic, count, deadline) {
  const buf = payload()
  // The publish promises themselves, oldest first: no extra promise per message,
  // so the bench's own cost per message stays small next to the client's.
  const window = []
  let head = 0
  for (let i = 0; i < count; i++) {
    if ((i & 1023) === 0 && now() > deadline) break
    buf.writeDoubleLE(now(), 0) // publish() copies the payload into its record at once
    window.push(producer.publish(topic, buf))
    sent++
    if (window.length - head >= maxInFlight) {
      await window[head]
      window[head++] = undefined
      confirmed++
      if (head > 100_000) window.splice(0, head), (head = 0)
    }
  }
  const rest = window.slice(head)
  await Promise.all(rest)
  confirmed += rest.length
}

async function fireAndForgetLoop(producer, topic, count, deadline) {
  const buf = payload()
  for (let i = 0; i < count; i++) {
    buf.writeDoubleLE(now(), 0)
    if (producer.send(topic, buf)) sent++
    else {
      dropped++
      await turn()
    }
    if (i % SEND_SLICE === SEND_SLICE - 1) {
      await turn()
      if (now() > deadline) break
    }
  }
  await producer.flush()
}

/** `rate` is this connection's share of records/s. */
async function pacedLoop(producer, perConnRate, deadline) {
  const buf = payload()
  const start = now()
  const end = Math.min(start + durationMs, deadline)
  const window = []
  let head = 0
  let mine = 0
  for (let t = start; t < end; t = now()) {
    const due = Math.floor(((t - start) * perConnRate) / 1000)
    while (mine < due) {
      if (confirm && window.length - head >= maxInFlight) {
        await window[head]
        window[head++] = undefined
        confirmed++
        continue
      }
      buf.writeDoubleLE(now(), 0)
      if (confirm) window.push(producer.publish(topic, buf))
      else if (!producer.send(topic, buf)) dropped++
      mine++
      sent++
    }
    await sleep(1)
  }
  const rest = window.slice(head)
  await Promise.all(rest)
  confirmed += rest.length
  await producer.flush()
}

runRole(async () => {
  const clients = []
  for (let i = 0; i < connections; i++) clients.push(await connect(url, { name: `bench-producer-${i}` }))
  const producers = clients.map((c) => c.producer({ maxInFlight }))
  await send({ t: 'ready' })
  const warm = await Promise.race([go.then(() => null), warmup])
  if (warm) {
    // The same loop on the warm-up topic, not measured: V8 compiles the hot
    // paths and the buffers reach their working sizes before go (see workload.mjs).
    const until = now() + timeLimitMs
    await Promise.all(producers.map((p) => (confirm ? confirmedLoop(p, warm.topic, warm.messages, until) : fireAndForgetLoop(p, warm.topic, warm.messages, until))))
    const warmSent = sent
    sent = dropped = confirmed = 0
    await send({ t: 'warm', sent: warmSent })
    await go
  }
  const stopProgress = reportProgress(() => sent)
  const cpuAtGo = cpuSeconds()
  const startedAt = now()
  const deadline = startedAt + timeLimitMs
  await Promise.all(
    producers.map((p) => {
      if (rate > 0) return pacedLoop(p, rate / connections, deadline)
      return confirm ? confirmedLoop(p, topic, messages, deadline) : fireAndForgetLoop(p, topic, messages, deadline)
    }),
  )
  const endedAt = now()
  const cpu = cpuSeconds() - cpuAtGo
  stopProgress()
  await Promise.all(clients.map((c) => c.close()))
  return { sent, dropped, confirmed, startedAt, endedAt, cpuSeconds: cpu }
})
