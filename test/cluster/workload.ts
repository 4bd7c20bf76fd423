/**
 * A producer/consumer workload for fault tests, bounded and stoppable, that
 * logs what the checker needs:
 *
 * - N producers, each on its own client (its own connection, its own
 *   idempotent producer id), publish keyed messages with confirm at a bounded
 *   rate, until a count or a time is reached or stopProducing() is called.
 *   Each message carries its id (`p<i>-<seq>`) in the `msg-id` header and in
 *   the payload. Every attempt is logged; every confirm with the partition
 *   and offset the PUBLISH_ACK named, and when it was sent and confirmed;
 *   every failure with its error.
 * - M consumers, each on its own client, in one group from `earliest`, ack
 *   each message and log the delivery (id, partition, offset) in the order
 *   each consumer received it.
 *
 * Bounded: a producer has at most `maxOutstanding` publishes unsettled (it
 * skips its rate ticks while at the bound), and each consumer at most
 * `maxInFlight` unsettled deliveries.
 */
import { connect, type Client, type ConnectOptions, type Consumer } from '../../clients/index.js'
import { seededRandom } from '../reliability/harness.js'
import type { Confirmed, Delivered } from './checker.js'
import { ID_HEADER } from './read-back.js'

export interface WorkloadOptions {
  /** Where clients connect (typically a fault proxy). */
  url: string | string[]
  topic: string
  producers: number
  consumers: number
  group?: string
  /** Distinct keys, `k0`..`k<keys-1>`, picked at random (seeded) per message. */
  keys: number
  /** Publishes per second per producer. */
  rate: number
  /** Stop each producer after this many publishes. */
  maxPerProducer?: number
  /** Stop producing after this long. */
  durationMs?: number
  /** Unsettled publishes per producer. Default 100. */
  maxOutstanding?: number
  seed: number
  connect?: ConnectOptions
}

export interface Failure {
  id: string
  error: string
}

export interface Workload {
  readonly confirmed: Confirmed[]
  readonly attempted: string[]
  readonly failures: Failure[]
  readonly delivered: Delivered[]
  /** Reconnects seen by the workload's clients. */
  readonly reconnects: { producers: number; consumers: number }
  /** Resolves when every producer stopped and each of its publishes settled (confirmed or failed). */
  readonly produced: Promise<void>
  stopProducing(): void
  /** Wait until every confirmed id was delivered at least once; false at the deadline. */
  deliveredAll(timeoutMs: number): Promise<boolean>
  /** Close consumers and clients (bounded by the clients' drain timeout). */
  close(): Promise<void>
}

const TICK_MS = 10

export async function startWorkload(opts: WorkloadOptions): Promise<Workload> {
  const random = seededRandom(opts.seed)
  const group = opts.group ?? 'workload'
  const maxOutstanding = opts.maxOutstanding ?? 100
  const clients: Client[] = []
  const consumers: Consumer[] = []
  const reconnects = { producers: 0, consumers: 0 }
  const open = async (name: string, role: keyof typeof reconnects) => {
    const c = await connect(opts.url, { name, ...opts.connect })
    c.on('error', () => {}) // every failure that matters reaches a call; the log keeps those
    c.on('reconnect', () => reconnects[role]++)
    clients.push(c)
    return c
  }

  const delivered: Delivered[] = []
  for (let i = 0; i < opts.consumers; i++) {
    const name = `c${i}`
    const client = await open(`workload-${name}`, 'consumers')
    const consumer = await client.subscribe(opts.topic, { group, from: 'earliest', maxInFlight: 200 }, (msg) => {
      delivered.push({ consumer: name, id: msg.headers[ID_HEADER] ?? `?${msg.partition}:${msg.offset}`, partition: msg.partition, offset: msg.offset, at: Date.now() })
      msg.ack()
    })
    consumer.on('error', () => {})
    consumers.push(consumer)
  }

  const confirmed: Confirmed[] = []
  const attempted: string[] = []
  const failures: Failure[] = []
  let stopped = false
  const stopAt = opts.durationMs !== undefined ? Date.now() + opts.durationMs : Infinity
  const limit = opts.maxPerProducer ?? Infinity
  // One seeded stream per producer, drawn once per publish in order, so a seed replays the same keys.
  const keyStreams = Array.from({ length: opts.producers }, () => seededRandom(Math.floor(random() * 2 ** 31) + 1))

  const runProducer = async (index: number) => {
    const name = `p${index}`
    const client = await open(`workload-${name}`, 'producers')
    const producer = client.producer({ maxInFlight: maxOutstanding })
    const started = Date.now()
    let seq = 0
    let outstanding = 0
    let allSettled: (() => void) | undefined
    while (!stopped && seq < limit && Date.now() < stopAt) {
      const due = Math.min(limit, Math.floor(((Date.now() - started) * opts.rate) / 1000))
      while (seq < due && outstanding < maxOutstanding && !stopped) {
        const s = seq++
        const id = `${name}-${s}`
        const key = `k${Math.floor(keyStreams[index]!() * opts.keys)}`
        attempted.push(id)
        outstanding++
        const sentAt = Date.now()
        producer.publish(opts.topic, JSON.stringify({ id, key }), { key, headers: { [ID_HEADER]: id } }).then(
          (r) => void confirmed.push({ id, producer: name, seq: s, key, partition: r.partition, offset: r.offset, sentAt, at: Date.now() }),
          (err: Error) => void failures.push({ id, error: String(err) }),
        ).finally(() => {
          if (--outstanding === 0) allSettled?.()
        })
      }
      await new Promise((r) => setTimeout(r, TICK_MS))
    }
    if (outstanding > 0) await new Promise<void>((resolve) => (allSettled = resolve))
  }
  const produced = Promise.all(Array.from({ length: opts.producers }, (_, i) => runProducer(i))).then(() => undefined)

  return {
    confirmed,
    attempted,
    failures,
    delivered,
    reconnects,
    produced,
    stopProducing: () => void (stopped = true),
    async deliveredAll(timeoutMs) {
      const deadline = Date.now() + timeoutMs
      const seen = new Set<string>()
      let scanned = 0
      for (;;) {
        for (; scanned < delivered.length; scanned++) seen.add(delivered[scanned]!.id)
        if (confirmed.every((c) => seen.has(c.id))) return true
        if (Date.now() > deadline) return false
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async close() {
      await Promise.all(consumers.map((c) => c.close({ timeoutMs: 2000 }).catch(() => {})))
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
    },
  }
}
