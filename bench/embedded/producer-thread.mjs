/**
 * The producers of an embedded run: ONE worker_thread of the application
 * process, holding every producer connection of the workload (S4: 200), each
 * opened through the adapter (../adapter.mjs). The loops are lib/load-loops.mjs,
 * those of bench/roles/producer.mjs, so both topologies offer the broker the
 * same load; with `rate`, it is `rate` records/s over all connections.
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
import { confirmedLoop, fireAndForgetLoop, newTally, now, pacedLoop } from '../lib/load-loops.mjs'

const { adapterUrl, connectInfo, topic, connections, messages = 0, size = 128, confirm = true, maxInFlight = 1000, rate = 0, durationMs = 0, timeLimitMs } = workerData
const adapter = await import(adapterUrl)

const PROGRESS_MS = 200

let tally = newTally()

function unpaced(p, count, deadline) {
  return confirm ? confirmedLoop(p, { count, size, maxInFlight, deadline }, tally) : fireAndForgetLoop(p, { count, size, deadline }, tally)
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
  await Promise.all(warmers.map((p) => unpaced(p, warm.perConnection, limit)))
  await Promise.all(warmers.map((p) => p.close()))
  parentPort.postMessage({ t: 'warm', sent: tally.sent })
  tally = newTally()
  await go
}

const progress = setInterval(() => parentPort.postMessage({ t: 'progress', n: tally.sent }), PROGRESS_MS)
const startedAt = now()
const deadline = startedAt + timeLimitMs
await Promise.all(
  producers.map((p) => {
    if (rate > 0) return pacedLoop(p, { perConnRate: rate / producers.length, durationMs, size, confirm, maxInFlight, deadline }, tally)
    return unpaced(p, messages, deadline)
  }),
)
const endedAt = now()
clearInterval(progress)
parentPort.postMessage({ t: 'result', ...tally, startedAt, endedAt })
await Promise.all(producers.map((p) => p.close()))
parentPort.close()
