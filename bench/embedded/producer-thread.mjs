/**
 * The producers of an embedded run: ONE worker_thread of the application
 * process, holding every producer connection of the workload (S4: 200), each
 * opened through the adapter (../adapter.mjs). The loops are those of
 * bench/roles/producer.mjs, so both topologies offer the broker the same load:
 *
 * - confirm: publish() with at most `maxInFlight` unconfirmed per connection
 *   (a sliding window: wait for the oldest confirm when full);
 * - fire and forget: send(); a record it refuses counts as dropped and is not
 *   retried; the loop yields to the event loop every SEND_SLICE sends;
 * - rate: `rate` records/s over all connections for `durationMs`, in 1 ms ticks.
 *
 * Every payload starts with its send time (float64 ms, performance.timeOrigin +
 * performance.now(): wall-clock based, so it compares across threads).
 *
 * Conversation with the runner (run-embedded.mjs), over parentPort:
 *   thread -> {t:'ready'} once every connection is open
 *   runner -> {t:'warmup', topic, perConnection}  (optional) -> thread {t:'warm', sent}
 *   runner -> {t:'go'}; thread -> {t:'progress', n} every PROGRESS_MS, then
 *   {t:'result', sent, dropped, confirmed, startedAt, endedAt} and it exits.
 * Any failure ends the thread with an uncaught error, which the runner sees as
 * the Worker's 'error' event.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'

const { adapterUrl, connectInfo, topic, connections, messages = 0, size = 128, confirm = true, maxInFlight = 1000, rate = 0, durationMs = 0, timeLimitMs } = workerData
const adapter = await import(adapterUrl)

const SEND_SLICE = 1000
const PROGRESS_MS = 200
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const turn = () => new Promise((r) => setImmediate(r))

let sent = 0
let dropped = 0
let confirmed = 0

const payload = () => Buffer.alloc(Math.max(8, size), 0x61)

/** Wait for the oldest unconfirmed publish of `window` (an array used as a queue from `state.head`). */
async function awaitOldest(window, state) {
  await window[state.head]
  window[state.head++] = undefined
  confirmed++
  if (state.head > 100_000) window.splice(0, state.head), (state.head = 0)
}

async function confirmedLoop(p, count, deadline) {
  const buf = payload()
  const window = []
  const state = { head: 0 }
  for (let i = 0; i < count; i++) {
    if ((i & 1023) === 0 && now() > deadline) break
    buf.writeDoubleLE(now(), 0)
    window.push(p.publish(buf))
    sent++
    if (window.length - state.head >= maxInFlight) await awaitOldest(window, state)
  }
  const rest = window.slice(state.head)
  await Promise.all(rest)
  confirmed += rest.length
}

async function fireAndForgetLoop(p, count, deadline) {
  const buf = payload()
  for (let i = 0; i < count; i++) {
    buf.writeDoubleLE(now(), 0)
    if (p.send(buf)) sent++
    else {
      dropped++
      await turn()
    }
    if (i % SEND_SLICE === SEND_SLICE - 1) {
      await turn()
      if (now() > deadline) break
    }
  }
  await p.flush()
}

async function pacedLoop(p, perConnRate, deadline) {
  const buf = payload()
  const start = now()
  const end = Math.min(start + durationMs, deadline)
  const window = []
  const state = { head: 0 }
  let mine = 0
  for (let t = start; t < end; t = now()) {
    const due = Math.floor(((t - start) * perConnRate) / 1000)
    while (mine < due) {
      if (confirm && window.length - state.head >= maxInFlight) {
        await awaitOldest(window, state)
        continue
      }
      buf.writeDoubleLE(now(), 0)
      if (confirm) window.push(p.publish(buf))
      else if (!p.send(buf)) dropped++
      mine++
      sent++
    }
    await sleep(1)
  }
  const rest = window.slice(state.head)
  await Promise.all(rest)
  confirmed += rest.length
  await p.flush()
}

let goResolve
const go = new Promise((r) => (goResolve = r))
let warmupResolve
const warmup = new Promise((r) => (warmupResolve = r))
parentPort.on('message', (msg) => {
  if (msg?.t === 'go') goResolve()
  else if (msg?.t === 'warmup') warmupResolve(msg)
})

const producers = []
for (let i = 0; i < connections; i++) producers.push(await adapter.producer(connectInfo, { topic, confirm, maxInFlight }))
parentPort.postMessage({ t: 'ready' })

const warm = await Promise.race([go.then(() => null), warmup])
if (warm) {
  // The same loops on the warm-up topic, through producers of their own (an adapter's producer is bound to one topic).
  const warmers = []
  for (let i = 0; i < connections; i++) warmers.push(await adapter.producer(connectInfo, { topic: warm.topic, confirm, maxInFlight }))
  const limit = now() + timeLimitMs
  // Unpaced even for S5, as the multi-process warm-up does: it is there to compile code, not to measure.
  await Promise.all(warmers.map((p) => (confirm ? confirmedLoop(p, warm.perConnection, limit) : fireAndForgetLoop(p, warm.perConnection, limit))))
  await Promise.all(warmers.map((p) => p.close()))
  parentPort.postMessage({ t: 'warm', sent })
  sent = dropped = confirmed = 0
  await go
}

const progress = setInterval(() => parentPort.postMessage({ t: 'progress', n: sent }), PROGRESS_MS)
const startedAt = now()
const deadline = startedAt + timeLimitMs
await Promise.all(
  producers.map((p) => {
    if (rate > 0) return pacedLoop(p, rate / producers.length, deadline)
    return confirm ? confirmedLoop(p, messages, deadline) : fireAndForgetLoop(p, messages, deadline)
  }),
)
const endedAt = now()
clearInterval(progress)
parentPort.postMessage({ t: 'result', sent, dropped, confirmed, startedAt, endedAt })
await Promise.all(producers.map((p) => p.close()))
parentPort.close()
