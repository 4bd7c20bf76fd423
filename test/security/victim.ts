/**
 * A well-behaved client for the attack tests: while an attack runs it keeps
 * (1) a PING round trip going on a raw logged-in socket, (2) publishing with
 * confirms, one every `intervalMs`, and (3) consuming and acking what it
 * published in its own group. Each is timed; `stop()` returns the
 * percentiles, so a test asserts the victim's service in numbers:
 *
 *   const v = await startVictim(port, { token })
 *   ... the attack ...
 *   const s = await v.stop()
 *   assertServed(t, s, { p99Ms: 100 })
 *
 * It connects from 127.0.0.1; attackers connect from another loopback
 * address (127.0.0.2 ...) when a per-IP limit must not count the victim.
 * Every loop is bounded by count and by time.
 */
import { connect, type Client, type Consumer } from '../../clients/index.js'
import { Op, SUPPORTED_VERSIONS, encodeHello, encodePing } from '../../protocol/index.js'
import { RawPeer } from '../broker/raw-peer.js'

export interface VictimOptions {
  token?: string
  user?: string
  topic?: string
  intervalMs?: number
  /** Hard stop for every loop, whatever happens. */
  maxRunMs?: number
}

export interface Latencies {
  count: number
  failed: number
  p50: number
  p99: number
  max: number
  /** First few failure messages, for the assertion's diagnostics. */
  errors: string[]
}

export interface VictimStats {
  ping: Latencies
  confirm: Latencies
  deliver: Latencies
  /** Messages confirmed but never delivered by the time stop() gave up waiting. */
  undelivered: number
}

export interface Victim {
  stop(): Promise<VictimStats>
}

class Series {
  readonly values: number[] = []
  failed = 0
  readonly errors: string[] = []
  add(ms: number): void {
    this.values.push(ms)
  }
  fail(err: unknown): void {
    this.failed++
    if (this.errors.length < 5) this.errors.push((err as Error)?.message ?? String(err))
  }
  summary(): Latencies {
    const v = [...this.values].sort((a, b) => a - b)
    const at = (q: number) => (v.length === 0 ? Infinity : v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)]!)
    return { count: v.length, failed: this.failed, p50: at(0.5), p99: at(0.99), max: v.length ? v[v.length - 1]! : Infinity, errors: this.errors }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function startVictim(port: number, opts: VictimOptions = {}): Promise<Victim> {
  const topic = opts.topic ?? 'victim.orders'
  const intervalMs = opts.intervalMs ?? 10
  const deadline = Date.now() + (opts.maxRunMs ?? 120_000)
  const ping = new Series()
  const confirm = new Series()
  const deliver = new Series()
  const sentAt = new Map<number, number>()
  let running = true

  const client: Client = await connect(`skiff://127.0.0.1:${port}`, { name: 'victim', token: opts.token, user: opts.user })
  const consumer: Consumer = await client.subscribe(topic, { group: 'victim', from: 'latest', maxInFlight: 100 })
  const consuming = (async () => {
    for await (const msg of consumer) {
      const seq = Number(msg.payload.toString())
      const at = sentAt.get(seq)
      if (at !== undefined) {
        deliver.add(performance.now() - at)
        sentAt.delete(seq)
      }
      msg.ack()
    }
  })().catch((err) => deliver.fail(err))

  const producer = client.producer({ maxInFlight: 100 })
  const publishing = (async () => {
    for (let seq = 0; running && Date.now() < deadline && seq < 1_000_000; seq++) {
      const started = performance.now()
      sentAt.set(seq, started)
      try {
        await producer.publish(topic, String(seq))
        confirm.add(performance.now() - started)
      } catch (err) {
        sentAt.delete(seq)
        confirm.fail(err)
      }
      await sleep(intervalMs)
    }
  })()

  const peer = await RawPeer.connect(port)
  peer.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'victim-ping', token: opts.token, user: opts.user }))
  await peer.waitFor((f) => f.opcode === Op.WELCOME, 10_000)
  const pinging = (async () => {
    for (let i = 0; running && Date.now() < deadline && i < 1_000_000; i++) {
      const from = peer.frames.length
      const started = performance.now()
      peer.write(encodePing())
      const pong = await peer.waitFor((f) => f.opcode === Op.PONG, 10_000, from)
      if (pong) ping.add(performance.now() - started)
      else ping.fail(new Error(peer.closed ? 'ping connection closed' : 'no PONG within 10 s'))
      if (peer.closed) break
      await sleep(intervalMs)
    }
  })()

  return {
    async stop(): Promise<VictimStats> {
      running = false
      await Promise.all([publishing, pinging])
      // Let the last deliveries arrive (bounded).
      for (let i = 0; i < 100 && sentAt.size > 0; i++) await sleep(20)
      const undelivered = sentAt.size
      peer.end()
      await client.close().catch(() => {})
      await consuming
      return { ping: ping.summary(), confirm: confirm.summary(), deliver: deliver.summary(), undelivered }
    },
  }
}

interface Asserter {
  ok(value: unknown, message?: string, extra?: Record<string, unknown>): void
}

/** The victim was served throughout: enough samples, no failures, p99 within `p99Ms` for each kind. */
export function assertServed(t: Asserter, s: VictimStats, bound: { p99Ms: number; minSamples?: number }): void {
  const min = bound.minSamples ?? 5
  for (const kind of ['ping', 'confirm', 'deliver'] as const) {
    const l = s[kind]
    t.ok(l.count >= min && l.failed === 0, `victim ${kind}: ${l.count} answered, ${l.failed} failed`, { errors: l.errors })
    t.ok(l.p99 <= bound.p99Ms, `victim ${kind} p99 ${l.p99.toFixed(1)} ms <= ${bound.p99Ms} ms (p50 ${l.p50.toFixed(1)}, max ${l.max.toFixed(1)})`)
  }
  t.ok(s.undelivered === 0, `every confirmed victim message was delivered (${s.undelivered} missing)`)
}
