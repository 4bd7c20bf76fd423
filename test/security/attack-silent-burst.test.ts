/**
 * Attack: idle sockets in a burst (issue 13, item 10). Sockets that connect
 * and never send HELLO must be closed within 1.25 x authTimeoutMs (2.5 s for
 * the 2 s default, SECURITY.md), but in a burst of hundreds some lived 3.5 s:
 * the listen backlog was Node's default 511, so the kernel dropped the SYNs
 * beyond it and their clients sent them again a second later, and the
 * deadline was checked by a sweep every quarter of the timeout. Now the
 * backlog follows maxConnections and each connection has its own auth timer.
 *
 * 800 sockets are opened in one event-loop turn (so the broker, in this
 * process, cannot accept any before all have connected) with the default
 * 2 s auth timeout; each must be told UNAUTHORIZED and closed within 2.5 s
 * of its connect() call (the broker's own work for the burst, ~200 ms here,
 * counts against that). The victim's p99 stays within 250 ms (250, not 100: CI
 * runs two test files at once on 2 cores; the soak in bench/ holds the
 * 100 ms line).
 */
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import { FrameDecoder, Op, decodeError } from '../../protocol/index.js'
import { TOKENS, authBroker, rssMiB, until } from './helpers.js'
import { assertServed, startVictim } from './victim.js'

interface Silent {
  socket: net.Socket
  startedAt: number
  closedAt: number | undefined
  error: string | undefined
}

/** A socket that connects and sends nothing; records when it closed and the ERROR it was sent. */
function silent(port: number): Silent {
  const s: Silent = { socket: net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }), startedAt: Date.now(), closedAt: undefined, error: undefined }
  const decoder = new FrameDecoder()
  s.socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk)
    for (let f = decoder.next(); f; f = decoder.next()) if (f.opcode === Op.ERROR) s.error ??= decodeError(f.body).name
  })
  s.socket.on('close', () => (s.closedAt = Date.now()))
  s.socket.on('error', () => {})
  return s
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
  const sockets: Silent[] = []
  for (let i = 0; i < burst; i++) sockets.push(silent(broker.port))
  t.teardown(() => sockets.forEach((s) => s.socket.destroy()))
  await until(() => sockets.every((s) => s.closedAt !== undefined), authTimeoutMs * 4)
  const stats = await victim.stop()

  const lifetimes = sockets.map((s) => (s.closedAt ?? Infinity) - s.startedAt).sort((a, b) => a - b)
  const p50 = lifetimes[lifetimes.length >> 1]!
  const max = lifetimes[lifetimes.length - 1]!
  t.equal(sockets.filter((s) => s.closedAt !== undefined).length, burst, `all ${burst} were closed`)
  t.equal(sockets.filter((s) => s.error === 'UNAUTHORIZED').length, burst, 'each was told UNAUTHORIZED')
  t.ok(max <= authTimeoutMs * 1.25, `from connect() to close: p50 ${p50} ms, max ${max} ms (bound ${authTimeoutMs * 1.25} ms)`)
  t.ok(lifetimes[0]! >= authTimeoutMs - 50, `none was closed before its timeout (min ${lifetimes[0]} ms)`)
  assertServed(t, stats, { p99Ms: 250 })
  const grown = rssMiB() - rssBefore
  t.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB (under 64)`)
})
