/**
 * The scenario behind "a client that survives the real world": a broker in
 * its own process is stopped (SIGTERM or SIGKILL) and started again on the
 * same port and data dir while a producer publishes 20,000 messages and a
 * consumer reads them. Expected, without any call by the test after the
 * restart:
 * - every publish() resolves (unconfirmed batches are re-sent after the
 *   reconnect, and the broker's dedup confirms those it already stored);
 * - the topic holds each message exactly once;
 * - the consumer goes on and sees every message (at least once).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { connect, type Client, type PublishResult } from '../../clients/index.js'
import { spawnBroker, type BrokerProcess } from '../broker/broker-process.js'
import { freePort } from '../../bench/lib/free-port.mjs'

export const MESSAGES = 20_000

interface Tap {
  teardown(fn: () => unknown): void
  ok(v: unknown, msg?: string): void
  equal(a: unknown, b: unknown, msg?: string): void
  same(a: unknown, b: unknown, msg?: string): void
  comment(...args: unknown[]): void
}

async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)))
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export async function restartUnderLoad(t: Tap, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-restart-'))
  const port = await freePort()
  // HTTP on any free port and no UDP: a fixed --port would otherwise put them on fixed numbers too.
  const args = ['--data-dir', dataDir, '--port', String(port), '--workers', '2', '--http-port', '0', '--no-udp']
  let broker: BrokerProcess = await spawnBroker(args)
  t.equal(broker.port, port, 'the broker listens on the reserved port')
  const clients: Client[] = []
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})))
    if (broker.child.exitCode === null && broker.child.signalCode === null) {
      broker.child.kill('SIGKILL')
      await broker.exited
    }
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  const url = `skiff://127.0.0.1:${port}`
  // Long deadlines: publishes are all issued at once and must outlive the restart.
  const opts = { reconnect: { initialDelayMs: 50, maxDelayMs: 400 }, requestTimeoutMs: 60_000 }
  const producing = await connect(url, { ...opts, name: 'restart-producer' })
  const consuming = await connect(url, { ...opts, name: 'restart-consumer' })
  clients.push(producing, consuming)
  const reconnects = { producer: 0, consumer: 0 }
  producing.on('reconnect', () => reconnects.producer++)
  consuming.on('reconnect', () => reconnects.consumer++)
  producing.on('error', () => {})
  consuming.on('error', () => {})
  await producing.admin.createTopic('orders', { partitions: 3 })

  const consumer = await consuming.subscribe('orders', { group: 'billing', from: 'earliest', maxInFlight: 1000 })
  const seen = new Set<string>()
  let deliveries = 0
  const reading = (async () => {
    for await (const msg of consumer) {
      seen.add(msg.payload.toString())
      deliveries++
      msg.ack()
      if (seen.size === MESSAGES) break
    }
  })()

  const producer = producing.producer({ maxInFlight: 5000 }) // several batches in flight at the stop
  let confirmed = 0
  const failures: unknown[] = []
  const publishes: Promise<PublishResult | undefined>[] = []
  for (let i = 0; i < MESSAGES; i++) {
    // Half keyed, half keyless: both routings must put a re-sent batch where the original went.
    const p = producer.publish('orders', `m-${i}`, i % 2 === 0 ? { key: `k${i % 7}` } : {})
    publishes.push(p.then((r) => (confirmed++, r), (err) => void failures.push(err)))
  }

  // Stop the broker mid-stream, once a quarter is confirmed.
  await within('a quarter confirmed', 30_000, (async () => {
    while (confirmed < MESSAGES / 4) await new Promise((r) => setTimeout(r, 5))
  })())
  const confirmedBefore = confirmed
  broker.child.kill(signal)
  await within('the broker to exit', 15_000, broker.exited)
  broker = await spawnBroker(args)
  t.comment(`${signal}: ${confirmedBefore} of ${MESSAGES} confirmed before the stop`)

  await within('every publish to settle', 50_000, Promise.all(publishes))
  t.same(failures.map(String), [], 'no publish failed')
  t.equal(confirmed, MESSAGES, `all ${MESSAGES} publishes resolved`)
  t.ok(confirmedBefore < MESSAGES, 'the broker went down while publishes were outstanding')
  t.ok(reconnects.producer >= 1, 'the producer reconnected by itself')
  t.comment(`producer: ${JSON.stringify(producer.stats)}`)

  await within('the consumer to see every message', 40_000, reading)
  t.equal(seen.size, MESSAGES, `the consumer went on without a new call and saw all ${MESSAGES} (${deliveries} deliveries)`)
  t.ok(reconnects.consumer >= 1, 'the consumer reconnected by itself')

  const d = await producing.admin.describeTopic('orders')
  const stored = d.partitionInfo.reduce((n, p) => n + (p.endOffset - p.startOffset), 0)
  t.equal(stored, MESSAGES, 'the log holds exactly as many records as were published')
  const audit = await consuming.subscribe('orders', { group: 'audit', from: 'earliest', maxInFlight: 5000 })
  const counts = new Map<string, number>()
  let read = 0
  await within('reading the log back', 40_000, (async () => {
    for await (const msg of audit) {
      const id = msg.payload.toString()
      counts.set(id, (counts.get(id) ?? 0) + 1)
      msg.ack()
      if (++read === stored) break
    }
  })())
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id)
  t.same(twice.slice(0, 10), [], 'no message stored twice')
  t.equal(counts.size, MESSAGES, 'every message stored')
}
