/**
 * A producer and a consumer that keep working while the broker is killed and
 * restarted under them, and keep the books the reliability tests check:
 * which ids were sent, confirmed (where), delivered (how often, where).
 *
 * They reconnect the plain way: when the connection is lost they open a new
 * client to the same URL (retrying every 50 ms), the producer publishes again
 * every id that was not confirmed, and the consumer subscribes again. A
 * re-published id that the broker had in fact stored before the kill is
 * stored twice: that is a duplicate, counted, never a loss.
 *
 * Every loop is bounded by a deadline; nothing here waits without one.
 */
import { connect, type Client, type Message } from '../../clients/index.js'
import { sleep } from './harness.js'

export interface Where {
  partition: number
  offset: number
}

/** Connect, retrying until `deadline` (the broker may be restarting). */
export async function connectRetrying(url: string, name: string, deadline: number): Promise<Client | undefined> {
  while (Date.now() < deadline) {
    try {
      const c = await connect(url, { name, connectTimeoutMs: 2000, requestTimeoutMs: 10_000, drainTimeoutMs: 500 })
      c.on('error', () => {}) // losses are seen by the calls; nothing to report here
      return c
    } catch {
      await sleep(50)
    }
  }
  return undefined
}

/** The ledger of a producer publishing unique ids through restarts. */
export class RestartingProducer {
  /** Ids handed to publish() at least once. */
  readonly sent = new Set<string>()
  /** Every confirm received per id (more than one: the id was stored again after a loss). */
  readonly confirms = new Map<string, Where[]>()
  /** publish() calls that failed (connection lost, broker shutting down) and were retried. */
  retried = 0
  /** When each connection came up (ms, performance.now()) and its first confirm after that. */
  readonly reconnects: { connectedAt: number; firstConfirmAt?: number }[] = []
  private nextId = 0
  private pending: string[] = []
  private stopGenerating = false

  constructor(
    private readonly url: string,
    private readonly topic: string,
    private readonly opts: { prefix?: string; window?: number; maxIds?: number } = {},
  ) {}

  get confirmed(): number {
    return this.confirms.size
  }

  /** Stop making new ids; run() ends once every id made so far is confirmed. */
  finish(): void {
    this.stopGenerating = true
  }

  /** Publish new ids until finish(), through any number of broker restarts; bounded by `deadline`. */
  async run(deadline: number): Promise<void> {
    const window = this.opts.window ?? 200
    const maxIds = this.opts.maxIds ?? 200_000
    const prefix = this.opts.prefix ?? 'id'
    while (Date.now() < deadline) {
      if (this.stopGenerating && this.pending.length === 0) return
      const client = await connectRetrying(this.url, 'reliability-producer', deadline)
      if (!client) return
      const session: { connectedAt: number; firstConfirmAt?: number } = { connectedAt: performance.now() }
      this.reconnects.push(session)
      const producer = client.producer({ maxInFlight: window * 2 })
      try {
        while (Date.now() < deadline && !client.closed) {
          // Ids that failed go out again first, then new ones.
          const batch = this.pending.splice(0, window)
          while (batch.length < window && !this.stopGenerating && this.nextId < maxIds) batch.push(`${prefix}-${this.nextId++}`)
          if (batch.length === 0) break
          const failed: string[] = []
          await Promise.all(
            batch.map((id, i) => {
              this.sent.add(id)
              let p: Promise<Where>
              try {
                p = producer.publish(this.topic, id, { key: `k${i % 17}` })
              } catch (err) {
                p = Promise.reject(err)
              }
              return p.then(
                (r) => {
                  session.firstConfirmAt ??= performance.now()
                  const list = this.confirms.get(id)
                  if (list) list.push({ partition: r.partition, offset: r.offset })
                  else this.confirms.set(id, [{ partition: r.partition, offset: r.offset }])
                },
                () => void failed.push(id),
              )
            }),
          )
          if (failed.length > 0) {
            this.retried += failed.length
            this.pending.unshift(...failed)
            break // the connection is gone (or going): reconnect
          }
        }
      } finally {
        await client.close().catch(() => {})
      }
    }
  }
}

/** The ledger of a consumer-group member reading through restarts. */
export class RestartingConsumer {
  /** Deliveries per id. */
  readonly deliveries = new Map<string, number>()
  /** What each partition/offset held when delivered: one offset must never hold two ids. */
  readonly atOffset = new Map<string, string>()
  conflicts = 0
  total = 0
  private stopped = false
  private wake: (() => void) | undefined

  constructor(
    private readonly url: string,
    private readonly topic: string,
    private readonly group: string,
    private readonly opts: { maxInFlight?: number; onMessage?: (m: Message) => void } = {},
  ) {}

  stop(): void {
    this.stopped = true
    this.wake?.()
  }

  /** Read and ack until stop(), resubscribing after every loss; bounded by `deadline`. */
  async run(deadline: number): Promise<void> {
    const stopped = new Promise<void>((r) => (this.wake = r))
    while (!this.stopped && Date.now() < deadline) {
      const client = await connectRetrying(this.url, 'reliability-consumer', deadline)
      if (!client) return
      try {
        const consumer = await client.subscribe(this.topic, { group: this.group, from: 'earliest', maxInFlight: this.opts.maxInFlight ?? 300 })
        // A read that outlives an idle wait is kept for the next turn, so no delivery is dropped unseen.
        let reading: Promise<IteratorResult<Message>> | undefined
        while (!this.stopped && Date.now() < deadline) {
          reading ??= consumer.next()
          const next = await Promise.race([reading, stopped.then(() => undefined), sleep(1000).then(() => 'idle' as const)])
          if (next === 'idle') continue
          reading = undefined
          if (!next || next.done) break
          this.record(next.value)
          next.value.ack()
        }
      } catch {
        // connection lost: resubscribe on a new client
      } finally {
        await client.close().catch(() => {})
      }
      if (!this.stopped) await sleep(50)
    }
  }

  record(m: Message): void {
    const id = m.payload.toString()
    this.total++
    this.deliveries.set(id, (this.deliveries.get(id) ?? 0) + 1)
    const where = `${m.partition}/${m.offset}`
    const before = this.atOffset.get(where)
    if (before !== undefined && before !== id) this.conflicts++
    this.atOffset.set(where, id)
    this.opts.onMessage?.(m)
  }
}

/**
 * Every record of the topic, read by a fresh group from the earliest offset
 * until each partition's end (as described before reading): partition/offset -> id.
 */
export async function readWholeTopic(url: string, topic: string, deadline: number): Promise<Map<string, string>> {
  const client = await connect(url, { name: 'reliability-audit' })
  try {
    const info = await client.admin.describeTopic(topic)
    let expected = 0
    for (const p of info.partitionInfo) expected += p.endOffset - p.startOffset
    const out = new Map<string, string>()
    const consumer = await client.subscribe(topic, { group: `audit-${Date.now()}`, from: 'earliest', maxInFlight: 2000 })
    while (out.size < expected && Date.now() < deadline) {
      const next = await Promise.race([consumer.next(), sleep(3000).then(() => undefined)])
      if (!next || next.done) break
      out.set(`${next.value.partition}/${next.value.offset}`, next.value.payload.toString())
      next.value.ack()
    }
    return out
  } finally {
    await client.close().catch(() => {})
  }
}
