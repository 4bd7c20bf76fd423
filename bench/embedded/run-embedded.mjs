/**
 * One run of the embedded topology: a fresh broker server (the adapter's
 * child process), and ONE application process, this one, holding every
 * client of the scenario, as a team evaluating a broker would write it:
 * consumers on the main thread (consumers.mjs), producers in one worker_thread
 * (producer-thread.mjs). The workload is the multi-process one
 * (bench/scenarios.mjs) with its processes collapsed into this process: the
 * same connections, messages, sizes, windows and rates.
 *
 * Cold by default: the first message measured is the first the process ever
 * sends. `warm: true` first sends a warm-up like lib/workload.mjs's to
 * `<topic>-warmup` and waits until every group has read it.
 *
 * Ends like lib/workload.mjs: every group has every message; or the producers
 * are done, nothing arrived for IDLE_MS and the server uses under 10% of a core
 * (lossy S2); or the time limit. msgs/s runs from the producer thread's go to
 * the last receive. A server that cannot start (binary missing) or an adapter
 * module that is absent is a result, outcome 'not available', not a throw.
 */
import fs from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { pathToFileURL } from 'node:url'
import { ADAPTER_EXPORTS } from './adapter.mjs'
import { startConsumers } from './consumers.mjs'
import { embeddedSummary, warmupPlan } from './summary.mjs'
import { sampleProcess } from '../lib/proc-stats.mjs'
import { startRole } from '../lib/role-process.mjs'
import { latencySummary, mergeHistograms } from '../lib/histogram.mjs'
import { num } from '../lib/format.mjs'

const ADAPTERS_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'adapters')
const POLL_MS = 100
const IDLE_MS = 2_000
const STEP_TIMEOUT_MS = 60_000
const WARMUP_QUIET_MS = 2_000

const withTimeout = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: nothing within ${ms} ms`)), ms).unref())])
const firstLine = (err) => String(err?.message ?? err).split('\n')[0]

/** The adapter module `<dir>/<name>.mjs` and its file URL (the producer thread imports it again), or an error saying what is missing. */
export async function loadAdapterFrom(name, dir = ADAPTERS_DIR) {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`bad adapter name ${JSON.stringify(name)}`)
  const file = path.join(dir, `${name}.mjs`)
  if (!fs.existsSync(file)) throw new Error(`no bench adapter for ${name} (${path.relative(process.cwd(), file)} is missing)`)
  const url = pathToFileURL(file).href
  const mod = await import(url)
  const missing = ADAPTER_EXPORTS.filter((k) => mod[k] === undefined)
  if (missing.length > 0) throw new Error(`bench adapter ${name} lacks ${missing.join(', ')}`)
  return { mod, url }
}

/** The producer thread: next(t) resolves with its next message of type t (or rejects with its failure); onMessage gets the rest. */
function startProducerThread(workerData, onMessage) {
  const worker = new Worker(new URL('./producer-thread.mjs', import.meta.url), { workerData })
  let failed
  let done = false
  const failure = new Promise((_, reject) => {
    // After its result the thread only closes its connections: a failure there does not change the figures.
    worker.on('error', (err) => {
      if (!done) reject((failed ??= err))
    })
    worker.once('exit', (code) => {
      if (!done) reject((failed ??= new Error(`producer thread exited (code ${code}) before its result`)))
    })
  })
  failure.catch(() => {})
  const waiters = new Map()
  worker.on('message', (m) => {
    if (m.t === 'result') done = true
    const w = waiters.get(m.t)
    if (w) waiters.delete(m.t), w(m)
    else onMessage(m)
  })
  /** The next message of type t, or the thread's failure. */
  const next = (t) => Promise.race([new Promise((r) => waiters.set(t, r)), failure])
  return { worker, next, failure, failed: () => failed }
}

/** Wait until the consumers have read `expected` warm-up messages, or none arrived for WARMUP_QUIET_MS (lossy), or STEP_TIMEOUT_MS. */
async function awaitWarmupRead(counts, expected, progress, label) {
  const started = Date.now()
  let last = -1
  let lastChange = Date.now()
  while (counts.warming < expected && Date.now() - started < STEP_TIMEOUT_MS) {
    if (counts.warming !== last) (last = counts.warming), (lastChange = Date.now())
    if (Date.now() - lastChange > WARMUP_QUIET_MS) return
    progress?.update(`${label}  warming up: ${num(counts.warming)}/${num(expected)}`)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/**
 * @param {object} w  a workload of bench/scenarios.mjs (not S7's UDP telemetry)
 * @param {{ adapter: string, adapterDir?: string, warm?: boolean, label?: string, progress?: object }} opts
 */
export async function runEmbedded(w, opts) {
  if (w.telemetry) throw new Error('UDP telemetry (S7) has no embedded form')
  const label = opts.label ?? opts.adapter
  let adapter
  try {
    adapter = await loadAdapterFrom(opts.adapter, opts.adapterDir)
  } catch (err) {
    return { topology: 'embedded', broker: opts.adapter, durability: null, outcome: 'not available', unavailable: firstLine(err) }
  }
  const a = adapter.mod
  const base = { topology: 'embedded', broker: a.name, durability: a.durability(w) }
  let server
  const starting = a.startServer(w)
  try {
    server = await withTimeout(starting, STEP_TIMEOUT_MS, `${a.name} server start`)
  } catch (err) {
    // One that starts after all is stopped at once, so no server outlives the bench.
    starting.then((late) => late.stop(), () => {})
    return { ...base, outcome: 'not available', unavailable: firstLine(err) }
  }
  let thread
  let consumers
  let observer
  try {
    const warmup = opts.warm ? warmupPlan(w) : null
    const groups = (w.consumers ?? []).map((g) => g.group)
    const partitions = w.broker?.partitions ?? 1
    await withTimeout(a.prepare(server.connectInfo, { topic: w.topic, partitions, groups }), STEP_TIMEOUT_MS, 'prepare')
    if (warmup) await withTimeout(a.prepare(server.connectInfo, { topic: warmup.topic, partitions, groups }), STEP_TIMEOUT_MS, 'prepare')
    consumers = await withTimeout(startConsumers(a, server.connectInfo, w, { warmupTopic: warmup?.topic }), STEP_TIMEOUT_MS, 'consumers')

    const p = w.producers
    const producerConnections = (p.processes ?? 1) * (p.connections ?? 1)
    let sentSoFar = 0
    thread = startProducerThread(
      {
        adapterUrl: adapter.url,
        connectInfo: server.connectInfo,
        topic: w.topic,
        connections: producerConnections,
        messages: p.messages ?? 0,
        size: p.size,
        confirm: p.confirm !== false,
        maxInFlight: p.maxInFlight ?? 1000,
        // The multi-process rate is per process: the same total, spread over every connection.
        rate: (p.rate ?? 0) * (p.processes ?? 1),
        durationMs: p.durationMs ?? 0,
        timeLimitMs: w.timeLimitMs,
      },
      (m) => {
        if (m.t === 'progress') sentSoFar = m.n
      },
    )
    await withTimeout(thread.next('ready'), STEP_TIMEOUT_MS, 'producer connections')
    let warmSent = 0
    if (warmup) {
      const warmed = thread.next('warm')
      thread.worker.postMessage({ t: 'warmup', topic: warmup.topic, perConnection: Math.ceil(warmup.total / producerConnections) })
      warmSent = (await withTimeout(warmed, STEP_TIMEOUT_MS, 'warm-up')).sent
      await awaitWarmupRead(consumers.counts, warmSent * groups.length, opts.progress, label)
    }

    // As in the multi-process topology: how late a 1 ms timer fires in an idle process meanwhile (the machine's noise).
    observer = startRole('observer', { timeLimitMs: w.timeLimitMs }, { execArgv: [] })
    await observer.ready

    const atGo = sampleProcess(server.pid)
    const cpuAtGo = process.cpuUsage()
    const goAt = Date.now()
    const result = thread.next('result')
    thread.worker.postMessage({ t: 'go' })
    observer.send({ t: 'go' })
    void consumers.closeWarmup()
    let produced
    result.then((r) => (produced = r), () => {})
    let outcome = 'complete'
    let lastReceived = -1
    let lastChange = Date.now()
    let cpuAtChange = atGo.cpuSeconds
    const planned = p.rate ? null : producerConnections * p.messages
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS))
      if (thread.failed()) throw thread.failed()
      const { received } = consumers.counts
      opts.progress?.update(`${label}  sent ${num(produced?.sent ?? sentSoFar)}${planned ? '/' + num(planned) : ''}  received ${num(received)}  ${((Date.now() - goAt) / 1000).toFixed(1)} s`)
      if (received !== lastReceived) (lastReceived = received), (lastChange = Date.now()), (cpuAtChange = sampleProcess(server.pid).cpuSeconds)
      if (produced) {
        if (received >= produced.sent * groups.length) break
        const quiet = Date.now() - lastChange
        const cpu = sampleProcess(server.pid).cpuSeconds
        // Lost only when nothing arrives and the server has stopped working (a busy machine can stall one still draining).
        if (quiet > IDLE_MS && (cpu === null || cpuAtChange === null || (cpu - cpuAtChange) / (quiet / 1000) < 0.1)) {
          outcome = 'incomplete'
          break
        }
      }
      if (Date.now() - goAt > w.timeLimitMs) {
        outcome = 'time limit'
        break
      }
    }
    const atEnd = sampleProcess(server.pid)
    const cpu = process.cpuUsage(cpuAtGo)
    observer.send({ t: 'stop' })
    opts.progress?.done()
    // After a time limit the thread may still be sending: its counts so far are what it sent.
    const sendResult = produced ?? (await withTimeout(result, 20_000, 'producer thread').catch(() => ({ sent: sentSoFar, dropped: 0, confirmed: 0 })))
    return {
      ...base,
      ...embeddedSummary(w, { outcome, groups: groups.length, sendResult, consumers, atGo, atEnd, applicationCpuSeconds: (cpu.user + cpu.system) / 1e6 }),
      connections: { producers: producerConnections, consumers: consumers.connections },
      warmup: warmup && { topic: warmup.topic, messages: warmSent },
      timerLateness: await withTimeout(observer.result, 20_000, 'observer').then((o) => latencySummary(mergeHistograms([o.histogram])), () => null),
    }
  } catch (err) {
    opts.progress?.done()
    throw err
  } finally {
    observer?.kill()
    await thread?.worker.terminate()
    await consumers?.close()
    await server.stop()
  }
}
