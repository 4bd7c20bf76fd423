/**
 * Attack: idle sockets in a burst (issue 13, item 10). Sockets that connect
 * and never send HELLO must be closed within 1.25 x authTimeoutMs (2.5 s for
 * the 2 s default, SECURITY.md), but in a burst of hundreds some lived 3.5 s:
 * the listen backlog was Node's default 511, so the kernel dropped the SYNs
 * beyond it and their clients sent them again a second later, and the
 * deadline was checked by a sweep every quarter of the timeout. Now the
 * backlog follows maxConnections and each connection has its own auth timer.
 *
 * 800 sockets are opened in one event-loop turn by an attacker process of
 * their own (silent-burst-attacker.mjs) with the default 2 s auth timeout;
 * each must be told UNAUTHORIZED and closed within 2.5 s of its connect()
 * call (the broker's own work for the burst counts against that). The
 * attacker is not in this process: when it was, its own work for 800
 * sockets (creating them, then handling 800 closes) ran on the broker's
 * event loop and counted against the broker, and a loaded CI machine saw
 * 2,507 ms. Out of it, a CI run beside another test file still saw every
 * close 500 ms late (p50 2,531 ms): on 2 shared cores the attacker itself
 * may be kept off the CPU as the closes come in, and it then notices them
 * late. So the attacker reports how late its own event loop ran at worst
 * (monitorEventLoopDelay), and that much is allowed on top of the bound:
 * the bound holds the broker, not the process measuring it, to 1.25 x. The victim's p99 stays within 250 ms (250, not 100: CI
 * runs two test files at once on 2 cores; the soak in bench/ holds the
 * 100 ms line).
 */
import t from 'tap'
import fs from 'node:fs'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { TOKENS, authBroker, rssMiB } from './helpers.js'
import { assertServed, startVictim } from './victim.js'

const attacker = fileURLToPath(new URL('./silent-burst-attacker.mjs', import.meta.url))

interface Burst {
  /** Per socket, ms from its connect() call to its close; null if it never closed. */
  lifetimes: (number | null)[]
  /** Per socket, the name of the ERROR it was told, if any. */
  errors: (string | null)[]
  /** How late the attacker's own event loop ran at worst during the burst, in ms. */
  lagMs: number
}

/** Runs the attacker process against `port`; resolves with what it saw. */
function silentBurst(port: number, burst: number, giveUpMs: number): Promise<Burst> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [attacker, String(port), String(burst), '127.0.0.2', String(giveUpMs)], { timeout: giveUpMs + 10_000 }, (err, stdout) => {
      if (err) reject(err)
      else resolve(JSON.parse(stdout) as Burst)
    })
  })
}

/** The kernel caps the listen backlog at net.core.somaxconn; a burst deeper than that loses SYNs whatever the broker asks. */
function somaxconn(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))
  } catch {
    return 4096
  }
}

t.test('800 silent sockets opened at once are each closed within 1.25 x the auth timeout', async (t) => {
  const authTimeoutMs = 2000
  const { broker } = await authBroker(t, [{ name: 'app', token: TOKENS.app, publish: ['victim.>'], subscribe: ['victim.>'] }], { authTimeoutMs })
  const victim = await startVictim(broker.port, { token: TOKENS.app })
  const burst = Math.min(800, somaxconn() - 64)
  if (burst < 800) t.comment(`net.core.somaxconn is ${somaxconn()}: a burst of ${burst}`)
  const rssBefore = rssMiB()
  const seen = await silentBurst(broker.port, burst, authTimeoutMs * 4)
  const stats = await victim.stop()

  const lifetimes = seen.lifetimes.map((l) => l ?? Infinity).sort((a, b) => a - b)
  const p50 = lifetimes[lifetimes.length >> 1]!
  const max = lifetimes[lifetimes.length - 1]!
  t.equal(seen.lifetimes.filter((l) => l !== null).length, burst, `all ${burst} were closed`)
  t.equal(seen.errors.filter((e) => e === 'UNAUTHORIZED').length, burst, 'each was told UNAUTHORIZED')
  const bound = authTimeoutMs * 1.25 + seen.lagMs
  t.ok(max <= bound, `from connect() to close: p50 ${p50} ms, max ${max} ms (bound ${authTimeoutMs * 1.25} ms + the attacker's own lag ${seen.lagMs} ms)`)
  t.ok(lifetimes[0]! >= authTimeoutMs - 50, `none was closed before its timeout (min ${lifetimes[0]} ms)`)
  assertServed(t, stats, { p99Ms: 250 })
  const grown = rssMiB() - rssBefore
  t.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB (under 64)`)
})
