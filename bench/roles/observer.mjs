/**
 * Observer role: measures the machine, not the broker. It connects to
 * nothing; from "go" until "stop" (or its time limit) it runs a 1 ms interval
 * timer and records how late each tick fires: the time since the previous
 * tick minus 1 ms, into an HDR histogram.
 *
 * Why: a message's publish->receive latency crosses ~5 thread wake-ups
 * (producer -> broker gateway -> broker worker -> gateway -> consumer), so
 * when the machine is slow to schedule a woken thread, every hop pays for it
 * and the latency tail shows it. This process pays the same delays with no
 * work of its own, so its lateness tells a noisy machine from a slow broker.
 */
import { performance } from 'node:perf_hooks'
import { createHistogram, encodeHistogram, recordMs } from '../lib/histogram.mjs'
import { config, go, runRole, send, whenStopped } from './common.mjs'

const TICK_MS = 1
const { timeLimitMs = 120_000 } = config

runRole(async () => {
  // Registered before go, so a stop that comes early is not lost.
  let stop
  const stopped = new Promise((resolve) => (stop = resolve))
  whenStopped(() => stop())
  await send({ t: 'ready' })
  await go

  const histogram = createHistogram()
  let ticks = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const t = performance.now()
    recordMs(histogram, Math.max(0, t - last - TICK_MS))
    last = t
    ticks++
  }, TICK_MS)
  const limit = setTimeout(stop, timeLimitMs)
  await stopped
  clearInterval(timer)
  clearTimeout(limit)
  return { histogram: encodeHistogram(histogram), ticks }
})
