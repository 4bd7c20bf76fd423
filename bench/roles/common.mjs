/**
 * What every role process (producer, consumer, telemetry sender) shares: the
 * clock, the conversation with the parent over the IPC channel, and a hard
 * time limit so no role outlives a stuck run.
 *
 * Conversation: the parent forks the role with its config as JSON in argv[2];
 * the role connects and sends {t:'ready'}; before the measured phase the
 * parent may send producers {t:'warmup'} (they publish to the warm-up topic
 * and answer {t:'warm'}) while consumers report {t:'warming', n} of the
 * warm-up topic's messages; then the parent sends {t:'go'} to all roles at
 * once, later maybe {t:'stop'}; the role sends {t:'progress', n} every
 * PROGRESS_MS and one {t:'result', ...} (or {t:'error', message}) at the
 * end, then exits.
 */
import { performance } from 'node:perf_hooks'

const PROGRESS_MS = 200

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across
 * processes on one machine: the latency stamp in each payload's first 8 bytes.
 */
export const now = () => performance.timeOrigin + performance.now()

export const config = JSON.parse(process.argv[2] ?? '{}')

/** Send to the parent; resolves once the message has been handed to the channel. */
export function send(msg) {
  return new Promise((resolve) => {
    if (!process.connected) return resolve()
    process.send(msg, () => resolve())
  })
}

let onStop = () => {}
let goResolve
export const go = new Promise((resolve) => (goResolve = resolve))
let warmupResolve
/** The parent's {t:'warmup', messages} (producers), if it sends one before go. */
export const warmup = new Promise((resolve) => (warmupResolve = resolve))
process.on('message', (msg) => {
  if (msg?.t === 'go') goResolve()
  else if (msg?.t === 'warmup') warmupResolve(msg)
  else if (msg?.t === 'stop') onStop()
})
/** The parent asked this role to stop (consumers end their loops on this). */
export function whenStopped(fn) {
  onStop = fn
}
// The parent is gone (crashed or killed): nothing left to report to.
process.on('disconnect', () => process.exit(0))

/** Report a running count to the parent until stopped. */
export function reportProgress(count) {
  const timer = setInterval(() => send({ t: 'progress', n: count() }), PROGRESS_MS)
  return () => clearInterval(timer)
}

/** Run the role; any failure goes to the parent as {t:'error'}; a hard limit ends a hung role. */
export async function runRole(main) {
  const limitMs = (config.timeLimitMs ?? 120_000) + 30_000
  const hard = setTimeout(async () => {
    await send({ t: 'error', message: `role did not finish within ${limitMs} ms` })
    process.exit(3)
  }, limitMs)
  hard.unref()
  try {
    const result = await main()
    await send({ t: 'result', ...result })
    process.exit(0)
  } catch (err) {
    await send({ t: 'error', message: err?.stack ?? String(err) })
    process.exit(1)
  }
}

/** CPU seconds (user + system, all threads) this process has used; take the difference of two readings. */
export function cpuSeconds() {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
export const turn = () => new Promise((r) => setImmediate(r))
