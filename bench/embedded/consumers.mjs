/**
 * The consumers of an embedded run, on the application's main thread: every
 * group × process × connection of the workload collapsed into this process,
 * each its own connection through the adapter. Every message's
 * publish->receive latency (the stamp in its first 8 bytes, written by the
 * producer thread) goes into one HDR histogram.
 *
 * With a warm-up topic, each consumer connection has a second member of the
 * same group on that topic, only counted, closed at go (as the multi-process
 * consumer role does).
 */
import { performance } from 'node:perf_hooks'
import { createHistogram, recordMs } from '../lib/histogram.mjs'

const CLOSE_TIMEOUT_MS = 15_000
const now = () => performance.timeOrigin + performance.now()

/** Close every consumer, giving up (not throwing) after CLOSE_TIMEOUT_MS: a stuck close must not hang the bench. */
async function closeAll(consumers) {
  const closing = Promise.allSettled(consumers.map((c) => c.close()))
  await Promise.race([closing, new Promise((r) => setTimeout(r, CLOSE_TIMEOUT_MS).unref())])
}

/**
 * @returns {Promise<{ counts: { received: number, firstAt: number, lastAt: number, warming: number }, histogram: object, connections: number, closeWarmup(): Promise<void>, close(): Promise<void> }>}
 */
export async function startConsumers(adapter, connectInfo, w, { warmupTopic } = {}) {
  const histogram = createHistogram()
  const counts = { received: 0, firstAt: 0, lastAt: 0, warming: 0 }
  const onMessage = (payload) => {
    const t = now()
    if (counts.received++ === 0) counts.firstAt = t
    counts.lastAt = t
    if (payload.length >= 8) recordMs(histogram, t - payload.readDoubleLE(0))
  }
  const onWarmup = () => counts.warming++
  const measured = []
  const warmers = []
  try {
    for (const g of w.consumers ?? []) {
      // The multi-process consumer role's default is explicit acks ('each'); S2 says 'none'.
      const opts = { group: g.group, maxInFlight: g.maxInFlight ?? 1000, ack: g.ack === 'none' ? 'none' : 'each' }
      const members = (g.processes ?? 1) * (g.connections ?? 1)
      for (let i = 0; i < members; i++) {
        measured.push(await adapter.consumer(connectInfo, { ...opts, topic: w.topic }, onMessage))
        if (warmupTopic) warmers.push(await adapter.consumer(connectInfo, { ...opts, topic: warmupTopic }, onWarmup))
      }
    }
  } catch (err) {
    await closeAll([...measured, ...warmers])
    throw err
  }
  let warmClosed
  const closeWarmup = () => (warmClosed ??= closeAll(warmers))
  return { counts, histogram, connections: measured.length, closeWarmup, close: async () => void (await Promise.all([closeAll(measured), closeWarmup()])) }
}
