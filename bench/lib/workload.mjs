/**
 * Runs one workload end to end and measures it: a broker process, consumer
 * processes (subscribed and ready first), producer or telemetry processes
 * (started together on one "go"), an observer process (how late a 1 ms timer
 * fires on this machine meanwhile: see roles/observer.mjs), a progress line,
 * then the numbers.
 *
 * A workload (see scenarios.mjs for the real ones):
 *   broker     { workers, fsync }
 *   topic      string
 *   producers  { processes, connections, messages, size, confirm, maxInFlight, rate?, durationMs? }
 *              connections and messages are per process / per connection; rate is per process
 *   telemetry  { rate, durationMs, size }        instead of producers (UDP)
 *   consumers  [{ group, processes, connections, maxInFlight, ack? }]  every group gets every message
 *   timeLimitMs  hard bound on the measured phase
 *   replicationFactor  (a cluster run only) the topics are made with this many copies before
 *              anything connects; without it they are made on first use with the cluster's default
 *
 * Warm-up (unless opts.warmup is false): before go, the producers publish
 * the same way to a second topic, `<topic>-warmup` (WARMUP_MESSAGES per
 * process, no more than it sends measured, fewer for large records, spread
 * over its connections), and every
 * consumer group reads it, until all of it has arrived (or WARMUP_QUIET_MS
 * pass without a new one, or WARMUP_LIMIT_MS in all). Nothing of it is
 * measured: it lets V8 compile the hot paths of the broker and the clients
 * and the buffers reach their working sizes, so the figures are those of a
 * running system, not of processes compiling their code (as OpenMessaging
 * Benchmark's warm-up phase does). `--cold` measures without it.
 *
 * When it ends: every group has every message the producers sent; or the
 * producers are done, nothing more arrived for IDLE_MS and the broker is idle
 * (lossy paths: fire-and-forget, UDP); or the time limit. Timing is from the first publish
 * (the producers' own clock at go) to the last receive (the consumers' clock),
 * both in wall-clock ms, so the parent's polling does not enter the figure.
 */
import path from 'node:path'
import fs from 'node:fs'
import { startBrokerProcess } from './broker-process.mjs'
import { createClusterTopics, startClusterProcesses } from './cluster-process.mjs'
import { startRole } from './role-process.mjs'
import { latencySummary, mergeHistograms } from './histogram.mjs'
import { num } from './format.mjs'
import { rateFigures } from './summary.mjs'

const POLL_MS = 100
const IDLE_MS = 2_000
const RESULT_TIMEOUT_MS = 20_000
/** Warm-up records per producer process, and at most this many bytes of them. */
export const WARMUP_MESSAGES = 50_000
export const WARMUP_BYTES = 64 * 1024 * 1024
const WARMUP_QUIET_MS = 2_000
const WARMUP_LIMIT_MS = 60_000

/** Extra node/V8 flags for every bench process (broker and roles), e.g. BENCH_NODE_FLAGS='--single-threaded-gc'. */
const EXTRA_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)

function profileArgs(profileDir, who) {
  if (!profileDir) return EXTRA_FLAGS
  // Each process writes CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile on exit; worker threads too.
  const dir = path.join(profileDir, who)
  fs.mkdirSync(dir, { recursive: true })
  return [...EXTRA_FLAGS, '--cpu-prof', '--cpu-prof-dir', dir]
}

const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms).unref())])

/**
 * @param {object} w  the workload
 * @param {{ label: string, progress?: { update(s: string): void, done(): void }, profileDir?: string }} opts
 */
export async function runWorkload(w, opts) {
  const warmup = opts.warmup !== false ? warmupPlan(w) : null
  const brokerOpts = { ...w.broker, execArgv: profileArgs(opts.profileDir, 'broker') }
  const broker = opts.cluster ? await startClusterProcesses(opts.cluster, brokerOpts) : await startBrokerProcess(brokerOpts)
  const roles = []
  try {
    const url = broker.url
    const topics = [w.topic, ...(warmup ? [warmup.topic] : [])]
    const replication = opts.cluster && w.replicationFactor ? await createClusterTopics(url, topics, { partitions: w.broker.partitions ?? 1, replicationFactor: w.replicationFactor }) : undefined
    const consumers = []
    for (const g of w.consumers ?? []) {
      for (let i = 0; i < (g.processes ?? 1); i++) {
        const cfg = { url, topic: w.topic, group: g.group, connections: g.connections ?? 1, maxInFlight: g.maxInFlight, ...(g.ack ? { ack: g.ack } : {}), timeLimitMs: w.timeLimitMs, warmupTopic: warmup?.topic }
        consumers.push(startRole('consumer', cfg, { execArgv: profileArgs(opts.profileDir, 'consumer') }))
      }
    }
    // Plain node, no profiling or BENCH_NODE_FLAGS: it measures the machine, not our code.
    const observer = startRole('observer', { timeLimitMs: w.timeLimitMs }, { execArgv: [] })
    roles.push(...consumers, observer)
    await Promise.all([...consumers.map((c) => c.ready), observer.ready])

    const senders = []
    if (w.telemetry) {
      const udpUrl = `udp://127.0.0.1:${broker.port}`
      senders.push(startRole('telemetry', { url: udpUrl, topic: w.topic, ...w.telemetry, timeLimitMs: w.timeLimitMs }, { execArgv: profileArgs(opts.profileDir, 'producer') }))
    } else {
      const p = w.producers
      for (let i = 0; i < (p.processes ?? 1); i++) {
        senders.push(startRole('producer', { url, topic: w.topic, ...p, timeLimitMs: w.timeLimitMs }, { execArgv: profileArgs(opts.profileDir, 'producer') }))
      }
    }
    roles.push(...senders)
    await Promise.all(senders.map((s) => s.ready))
    if (warmup) await warmUp(warmup, senders, consumers, (w.consumers ?? []).length, opts)

    const groups = (w.consumers ?? []).length
    const planned = w.producers && !w.producers.rate ? (w.producers.processes ?? 1) * (w.producers.connections ?? 1) * w.producers.messages : null
    const atGo = broker.sample()
    const goAt = Date.now()
    const goMonoUs = Number(process.hrtime.bigint() / 1000n)
    for (const r of roles) r.send({ t: 'go' })

    // Watch until every group has everything, the senders are done and the rest is lost, or time is up.
    const senderResults = Promise.all(senders.map((s) => s.result))
    let sendersDone = false
    let senderError
    senderResults.then(() => (sendersDone = true), (err) => (senderError = err))
    let lastReceived = -1
    let lastChange = Date.now()
    let cpuAtChange = atGo.cpuSeconds
    let outcome = 'complete'
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS))
      if (senderError) throw senderError
      const failed = consumers.find((c) => c.finished)
      if (failed) await failed.result // rejects with the role's error
      const received = consumers.reduce((a, c) => a + c.progress, 0)
      const sent = senders.reduce((a, s) => a + s.progress, 0)
      const elapsed = (Date.now() - goAt) / 1000
      opts.progress?.update(`${opts.label}  sent ${num(sent)}${planned ? '/' + num(planned) : ''}  received ${num(received)}  ${elapsed.toFixed(1)} s`)
      if (received !== lastReceived) {
        lastReceived = received
        lastChange = Date.now()
        cpuAtChange = broker.sample().cpuSeconds
      }
      if (sendersDone) {
        const results = await senderResults
        const total = results.reduce((a, r) => a + (r.sent ?? 0), 0)
        if (received >= total * groups) break
        if (results.some((r) => r.unavailable)) break
        const quiet = Date.now() - lastChange
        // Lost only when nothing arrives *and* the broker has stopped working: on a
        // busy machine a broker still draining its backlog can go quiet for seconds.
        if (quiet > IDLE_MS && brokerIdleSince(broker, cpuAtChange, quiet)) {
          outcome = 'incomplete'
          break
        }
      }
      if (Date.now() - goAt > w.timeLimitMs) {
        outcome = 'time limit'
        break
      }
    }
    const brokerAtEnd = broker.sample()
    const udp = w.telemetry ? await udpCounts(broker) : undefined
    if (opts.profileDir) {
      // The measured phase on the monotonic clock that .cpuprofile timestamps use (see profile-summary.mjs).
      const endMonoUs = Number(process.hrtime.bigint() / 1000n)
      fs.writeFileSync(path.join(opts.profileDir, 'window.json'), JSON.stringify({ fromUs: goMonoUs, toUs: endMonoUs }) + '\n')
    }
    for (const c of consumers) c.send({ t: 'stop' })
    observer.send({ t: 'stop' })
    opts.progress?.done()
    const consumerResults = await withTimeout(Promise.all(consumers.map((c) => c.result)), RESULT_TIMEOUT_MS, 'consumers')
    const sendResults = await withTimeout(senderResults, RESULT_TIMEOUT_MS, 'senders')
    const observed = await withTimeout(observer.result, RESULT_TIMEOUT_MS, 'observer')
    return {
      ...summarise(w, { outcome, groups, sendResults, consumerResults, atGo, brokerAtEnd }),
      udpDatagramsByResult: udp,
      warmup: warmup && { topic: warmup.topic, messagesPerProcess: warmup.perConnection * (w.producers.connections ?? 1) },
      ...(replication ? { replication } : {}),
      // How late a 1 ms timer fired in an idle process during the run (ms): the machine's scheduling noise.
      timerLateness: latencySummary(mergeHistograms([observed.histogram])),
    }
  } catch (err) {
    opts.progress?.done()
    throw err
  } finally {
    for (const r of roles) r.kill()
    await broker.stop()
  }
}

/** What the warm-up sends, or null when the workload has no TCP producers (S7's UDP sender starts cold). */
function warmupPlan(w) {
  const p = w.producers
  if (!p) return null
  const connections = p.connections ?? 1
  // No more than the process sends when measured (S4's processes send 25,000 each).
  const measured = p.messages ? p.messages * connections : Infinity
  const perProcess = Math.max(1, Math.min(WARMUP_MESSAGES, measured, Math.floor(WARMUP_BYTES / Math.max(1, p.size ?? 128))))
  return { topic: `${w.topic}-warmup`, perConnection: Math.max(1, Math.ceil(perProcess / connections)) }
}

/** Run the warm-up: producers publish it, then wait until every group has read it (or it stops arriving). */
async function warmUp(plan, senders, consumers, groups, opts) {
  const started = Date.now()
  for (const s of senders) s.send({ t: 'warmup', topic: plan.topic, messages: plan.perConnection })
  // A producer that dies during the warm-up fails the run with its own error.
  const warmOrFail = (s) => Promise.race([s.warm, s.result.then(() => Promise.reject(new Error(`${s.role} ended during the warm-up`)))])
  const sentBy = await withTimeout(Promise.all(senders.map(warmOrFail)), WARMUP_LIMIT_MS, 'warm-up')
  const expected = sentBy.reduce((a, r) => a + (r.sent ?? 0), 0) * groups
  let last = -1
  let lastChange = Date.now()
  for (;;) {
    const got = consumers.reduce((a, c) => a + c.warming, 0)
    opts.progress?.update(`${opts.label}  warming up: ${num(got)}/${num(expected)}`)
    if (got >= expected) return
    if (got !== last) {
      last = got
      lastChange = Date.now()
    }
    // Lossy paths (send() may drop): whatever arrived is warm enough.
    if (Date.now() - lastChange > WARMUP_QUIET_MS || Date.now() - started > WARMUP_LIMIT_MS) return
    const failed = [...senders, ...consumers].find((c) => c.finished)
    if (failed) await failed.result // rejects with the role's error
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/**
 * The broker's skiff_udp_datagrams_total by result (accepted, or why dropped),
 * from /metrics: with the sender's datagram count it splits the loss between
 * the network/kernel (never reached the broker) and the broker's own drops.
 * Undefined when this build has no metrics endpoint.
 */
async function udpCounts(broker) {
  if (!broker.httpPort) return undefined
  try {
    const res = await fetch(`http://127.0.0.1:${broker.httpPort}/metrics`, { signal: AbortSignal.timeout(3000) })
    const text = await res.text()
    const out = {}
    for (const m of text.matchAll(/^skiff_udp_datagrams_total\{result="([^"]+)"\} (\d+(?:\.\d+)?)$/gm)) out[m[1]] = Number(m[2])
    return Object.keys(out).length > 0 ? out : undefined
  } catch {
    return undefined
  }
}

/** The broker used under 10% of a core since the last message arrived (its timers cost a little). */
function brokerIdleSince(broker, cpuThen, quietMs) {
  const cpuNow = broker.sample().cpuSeconds
  if (cpuNow === null || cpuThen === null) return true // no /proc: fall back to quiet time alone
  return (cpuNow - cpuThen) / (quietMs / 1000) < 0.1
}

const diff = (a, b) => (a === null || b === null ? null : a - b)

function summarise(w, { outcome, groups, sendResults, consumerResults, atGo, brokerAtEnd }) {
  const unavailable = sendResults.find((r) => r.unavailable)?.unavailable
  const sum = (list, k) => list.reduce((a, r) => a + (r[k] ?? 0), 0)
  const sent = sum(sendResults, 'sent')
  const dropped = sum(sendResults, 'dropped') + sum(sendResults, 'refused')
  const received = sum(consumerResults, 'received')
  const firstSend = Math.min(...sendResults.map((r) => r.startedAt ?? Infinity))
  const sendEnd = Math.max(...sendResults.map((r) => r.endedAt ?? 0))
  const lastReceive = Math.max(...consumerResults.map((r) => r.lastAt || 0))
  const seconds = received > 0 && Number.isFinite(firstSend) ? (lastReceive - firstSend) / 1000 : null
  const unique = groups > 0 ? received / groups : 0
  const size = w.producers?.size ?? w.telemetry?.size ?? 0
  const latency = latencySummary(mergeHistograms(consumerResults.map((r) => r.histogram)))
  const datagrams = sum(sendResults, 'datagrams')
  const sendSeconds = Number.isFinite(firstSend) && sendEnd > 0 ? (sendEnd - firstSend) / 1000 : null
  return {
    outcome: unavailable ? 'not available' : outcome,
    unavailable,
    workers: w.broker.workers,
    partitions: w.broker.partitions ?? 1,
    fsync: w.broker.fsync,
    size,
    sent,
    dropped,
    confirmed: sum(sendResults, 'confirmed'),
    received,
    groups,
    ...rateFigures({ unique, received, groups, size, seconds, sent, dropped, sendSeconds }),
    datagrams: w.telemetry ? datagrams : undefined,
    datagramsPerSec: w.telemetry && sendSeconds ? datagrams / sendSeconds : undefined,
    latency,
    broker: {
      peakRssMiB: brokerAtEnd.peakRssMiB,
      cpuSeconds: diff(brokerAtEnd.cpuSeconds, atGo.cpuSeconds),
      mainThreadCpuSeconds: diff(brokerAtEnd.mainThreadCpuSeconds, atGo.mainThreadCpuSeconds),
    },
    // CPU the clients spent from go to their end (process.cpuUsage in each role).
    clients: { senderCpuSeconds: sum(sendResults, 'cpuSeconds'), consumerCpuSeconds: sum(consumerResults, 'cpuSeconds') },
  }
}
