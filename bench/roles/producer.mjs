/**
 * Producer role: `connections` client connections in this process, each
 * publishing `messages` records of `size` bytes to `topic`, all at once after
 * the parent's go; with `rate`, `rate` records/s per process for `durationMs`.
 * The loops (confirm window, fire and forget, paced) are lib/load-loops.mjs,
 * the embedded topology's too.
 */
import { CLIENT_MODULE } from '../lib/paths.mjs'
import { confirmedLoop, fireAndForgetLoop, newTally, pacedLoop } from '../lib/load-loops.mjs'
import { config, cpuSeconds, go, now, reportProgress, runRole, send, warmup } from './common.mjs'

const { connect } = await import(CLIENT_MODULE)
const { url, topic, connections = 1, messages = 0, size = 128, confirm = true, maxInFlight = 1000, rate = 0, durationMs = 0, timeLimitMs = 120_000 } = config

let tally = newTally()

/** One client producer as the loops' target, on `t`. */
const targetOf = (producer, t) => ({ publish: (buf) => producer.publish(t, buf), send: (buf) => producer.send(t, buf), flush: () => producer.flush() })

function unpaced(target, count, deadline) {
  return confirm ? confirmedLoop(target, { count, size, maxInFlight, deadline }, tally) : fireAndForgetLoop(target, { count, size, deadline }, tally)
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
    await Promise.all(producers.map((p) => unpaced(targetOf(p, warm.topic), warm.messages, until)))
    const warmSent = tally.sent
    tally = newTally()
    await send({ t: 'warm', sent: warmSent })
    await go
  }
  const stopProgress = reportProgress(() => tally.sent)
  const cpuAtGo = cpuSeconds()
  const startedAt = now()
  const deadline = startedAt + timeLimitMs
  await Promise.all(
    producers.map((p) => {
      const target = targetOf(p, topic)
      if (rate > 0) return pacedLoop(target, { perConnRate: rate / connections, durationMs, size, confirm, maxInFlight, deadline }, tally)
      return unpaced(target, messages, deadline)
    }),
  )
  const endedAt = now()
  const cpu = cpuSeconds() - cpuAtGo
  stopProgress()
  await Promise.all(clients.map((c) => c.close()))
  return { ...tally, startedAt, endedAt, cpuSeconds: cpu }
})
