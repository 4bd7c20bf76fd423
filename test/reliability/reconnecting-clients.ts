/**
 * A producer and a consumer-group member that run through broker restarts
 * on the client's own reconnect (connect(url, { reconnect })), keeping the
 * books the reliability tests check: which ids were sent, confirmed (where),
 * delivered (how often, where), and how long each outage lasted.
 *
 * The producer publishes unique ids with confirm; after a reconnect the
 * client re-sends unconfirmed batches with the same producer id and sequence,
 * so a publish that resolves is stored once. The consumer acks everything it
 * reads; an ack lost with the broker makes a redelivery, which is counted.
 *
 * Every loop is bounded by a deadline; nothing here waits without one.
 */
import { connect, type Client, type Message } from '../../clients/index.js'
import { timeout } from './harness.js'

export interface Where {
  partition: number
  offset: number
}

/** One outage as a client saw it (performance.now() times). */
export interface Outage {
  lostAt: number
  backAt?: number
  firstConfirmAt?: number
}

/** Reconnect fast: the tests restart the broker within a second or two. */
const RECONNECT = { initialDelayMs: 50, maxDelayMs: 500 }

export async function reconnectingClient(url: string, name: string): Promise<{ client: Client; outages: Outage[] }> {
  const client = await connect(url, { name, reconnect: RECONNECT, requestTimeoutMs: 60_000, connectTimeoutMs: 2000, drainTimeoutMs: 2000 })
  const outages: Outage[] = []
  client.on('error', () => {}) // losses are what this test is about; calls see their own failures
  client.on('disconnect', () => void outages.push({ lostAt: performance.now() }))
  client.on('reconnect', () => {
    const o = outages.at(-1)
    if (o) o.backAt ??= performance.now()
  })
  return { client, outages }
}

/** The ledger of a producer publishing unique ids through restarts. */
export class LedgerProducer {
  /** Ids handed to publish(). */
  readonly sent = new Set<string>()
  readonly confirms = new Map<string, Where>()
  /** publish() calls that rejected (outcome unknown: e.g. TIMEOUT). */
  readonly failed = new Map<string, string>()
  outages: Outage[] = []
  client: Client | undefined
  private nextId = 0
  private stopGenerating = false

  constructor(
    private readonly url: string,
    private readonly topic: string,
    private readonly opts: { prefix?: string; outstanding?: number; maxIds?: number } = {},
  ) {}

  get confirmed(): number {
    return this.confirms.size
  }

  /** Stop making new ids; run() ends once every id made so far has an outcome. */
  finish(): void {
    this.stopGenerating = true
  }

  /** Publish new ids until finish() (or maxIds), bounded by `deadline`; resolves when all have settled. */
  async run(deadline: number): Promise<void> {
    const { client, outages } = await reconnectingClient(this.url, 'ledger-producer')
    this.client = client
    this.outages = outages
    const outstandingMax = this.opts.outstanding ?? 400
    const maxIds = this.opts.maxIds ?? 200_000
    const prefix = this.opts.prefix ?? 'id'
    const producer = client.producer({ maxInFlight: outstandingMax })
    const outstanding = new Set<Promise<void>>()
    try {
      while (!this.stopGenerating && this.nextId < maxIds && Date.now() < deadline) {
        if (outstanding.size >= outstandingMax) {
          await Promise.race([...outstanding, timeout(1000)])
          continue
        }
        const id = `${prefix}-${this.nextId++}`
        this.sent.add(id)
        const p: Promise<void> = producer.publish(this.topic, id, { key: `k${this.nextId % 17}` }).then(
          (r) => {
            const o = outages.at(-1)
            if (o?.backAt !== undefined) o.firstConfirmAt ??= performance.now()
            this.confirms.set(id, { partition: r.partition, offset: r.offset })
          },
          (err: Error) => void this.failed.set(id, err.message),
        )
        outstanding.add(p)
        void p.finally(() => outstanding.delete(p))
        // Let confirms in now and then, so a burst of calls does not starve them.
        if (this.nextId % 50 === 0) await new Promise((r) => setImmediate(r))
      }
      await Promise.race([Promise.all(outstanding), timeout(Math.max(0, deadline - Date.now()))])
    } finally {
      await client.close().catch(() => {})
    }
  }
}

/** The ledger of a consumer-group member reading through restarts. */
export class LedgerConsumer {
  /** Deliveries per id. */
  readonly deliveries = new Map<string, number>()
  /** What each partition/offset held when delivered: one offset must never hold two ids. */
  readonly atOffset = new Map<string, string>()
  conflicts = 0
  total = 0
  outages: Outage[] = []
  client: Client | undefined
  private stopped = false
  private wake: (() => void) | undefined

  constructor(
    private readonly url: string,
    private readonly topic: string,
    private readonly group: string,
    private readonly opts: { maxInFlight?: number } = {},
  ) {}

  stop(): void {
    this.stopped = true
    this.wake?.()
  }

  /** Read and ack until stop(), bounded by `deadline`. Resolves once subscribed, with the reading loop. */
  async start(deadline: number): Promise<{ done: Promise<void> }> {
    const { client, outages } = await reconnectingClient(this.url, 'ledger-consumer')
    this.client = client
    this.outages = outages
    const consumer = await client.subscribe(this.topic, { group: this.group, from: 'earliest', maxInFlight: this.opts.maxInFlight ?? 300 })
    const stopped = new Promise<void>((r) => (this.wake = r))
    const done = (async () => {
      // A read that outlives an idle wait is kept for the next turn, so no delivery is dropped unseen.
      let reading: Promise<IteratorResult<Message>> | undefined
      try {
        while (!this.stopped && Date.now() < deadline) {
          reading ??= consumer.next()
          const next = await Promise.race([reading, stopped.then(() => undefined), timeout(1000).then(() => 'idle' as const)])
          if (next === 'idle') continue
          reading = undefined
          if (!next || next.done) break
          this.record(next.value)
          next.value.ack()
        }
      } finally {
        await client.close().catch(() => {})
      }
    })()
    return { done }
  }

  record(m: Message): void {
    const id = m.payload.toString()
    this.total++
    this.deliveries.set(id, (this.deliveries.get(id) ?? 0) + 1)
    const where = `${m.partition}/${m.offset}`
    const before = this.atOffset.get(where)
    if (before !== undefined && before !== id) this.conflicts++
    this.atOffset.set(where, id)
  }
}

/**
 * Every record of the topic, read by a fresh group from the earliest offset
 * until each partition's end (as described before reading): partition/offset -> id.
 */
export async function readWholeTopic(url: string, topic: string, deadline: number): Promise<Map<string, string>> {
  const client = await connect(url, { name: 'reliability-audit', reconnect: false })
  try {
    const info = await client.admin.describeTopic(topic)
    let expected = 0
    for (const p of info.partitionInfo) expected += p.endOffset - p.startOffset
    const out = new Map<string, string>()
    const consumer = await client.subscribe(topic, { group: `audit-${Date.now()}`, from: 'earliest', maxInFlight: 2000 })
    while (out.size < expected && Date.now() < deadline) {
      const next = await Promise.race([consumer.next(), timeout(3000).then(() => undefined)])
      if (!next || next.done) break
      out.set(`${next.value.partition}/${next.value.offset}`, next.value.payload.toString())
      next.value.ack()
    }
    return out
  } finally {
    await client.close().catch(() => {})
  }
}
