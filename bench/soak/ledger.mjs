/**
 * The soak's clients and their books. Ids are integers, and the books are
 * typed arrays indexed by id (a ten-minute soak publishes a million or more;
 * a Map of strings per id would weigh more than the broker under test).
 *
 * - SoakProducer publishes ids at a fixed rate with confirm on a client that
 *   reconnects (the default), recording where each was confirmed and how
 *   long the confirm took (publish() call to resolve, outages included).
 * - SoakGroup is a consumer group of a few members, each its own client; it
 *   counts deliveries per id, records publish-to-first-delivery latency, and
 *   checks that no offset is ever seen holding two different ids.
 *
 * Payloads are `<id>:<send time, ms since the epoch>`.
 */
import { CLIENT_MODULE } from '../lib/paths.mjs'
import { createHistogram, recordMs } from '../lib/histogram.mjs'

const { connect, SkiffError } = await import(CLIENT_MODULE)

const RECONNECT = { initialDelayMs: 50, maxDelayMs: 1000 }
const TICK_MS = 10

function parse(payload) {
  const s = payload.toString()
  const colon = s.indexOf(':')
  return { id: Number(s.slice(0, colon)), sentAt: Number(s.slice(colon + 1)) }
}

/** partition/offset -> id, one Int32Array per partition (-1: unseen). */
export class OffsetMap {
  constructor(partitions, capacity) {
    this.tables = Array.from({ length: partitions }, () => new Int32Array(capacity).fill(-1))
  }

  get(partition, offset) {
    const t = this.tables[partition]
    return t && offset < t.length ? t[offset] : -1
  }

  /** Record id at partition/offset; false when the offset already held a different id. */
  set(partition, offset, id) {
    const t = this.tables[partition]
    if (!t || offset >= t.length) return true // beyond the books: not checked
    const before = t[offset]
    t[offset] = id
    return before === -1 || before === id
  }
}

export class SoakProducer {
  constructor(url, topic, { rate, capacity, maxOutstanding = 4000 }) {
    Object.assign(this, { url, topic, rate, capacity, maxOutstanding })
    this.sentAt = new Float64Array(capacity)
    this.confirmedAt = new Int32Array(capacity).fill(-1) // partition, or -1
    this.offsetOf = new Float64Array(capacity)
    this.latency = createHistogram()
    this.next = 0
    this.outstanding = 0
    this.confirmed = 0
    this.throttled = 0
    this.failures = new Map()
    this.cuts = 0
  }

  async start() {
    this.client = await connect(this.url, { name: 'soak-producer', reconnect: RECONNECT, requestTimeoutMs: 120_000, drainTimeoutMs: 5000 })
    this.client.on('error', () => {})
    this.producer = this.client.producer({ maxInFlight: this.maxOutstanding })
    let carry = 0
    this.timer = setInterval(() => {
      carry += (this.rate * TICK_MS) / 1000
      const n = Math.floor(carry)
      carry -= n
      if (this.outstanding + n > this.maxOutstanding) {
        this.throttled += n // the broker is away or slow: the offered load waits, the books say so
        return
      }
      for (let i = 0; i < n && this.next < this.capacity; i++) this.publishOne(this.next++)
    }, TICK_MS)
  }

  publishOne(id) {
    this.outstanding++
    this.sentAt[id] = performance.now()
    this.producer.publish(this.topic, `${id}:${Date.now()}`, { key: `k${id % 64}` }).then(
      (r) => {
        this.outstanding--
        this.confirmed++
        this.confirmedAt[id] = r.partition
        this.offsetOf[id] = r.offset
        recordMs(this.latency, performance.now() - this.sentAt[id])
      },
      (err) => {
        this.outstanding--
        const code = err?.codeName ?? String(err)
        this.failures.set(code, (this.failures.get(code) ?? 0) + 1)
      },
    )
  }

  /** Drop the connection as if the network failed: the client reconnects and re-sends. */
  cut() {
    try {
      this.client.connection.abort(new SkiffError('CONNECTION_CLOSED', 'soak: connection cut'))
      this.cuts++
    } catch {
      // already reconnecting
    }
  }

  /** Stop publishing new ids; resolves once every publish has an outcome (bounded). */
  async finish(timeoutMs) {
    clearInterval(this.timer)
    const deadline = Date.now() + timeoutMs
    while (this.outstanding > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    await this.client.close().catch(() => {})
  }
}

export class SoakGroup {
  constructor(url, topic, group, { members, partitions, capacity }) {
    Object.assign(this, { url, topic, group, size: members })
    this.deliveries = new Uint16Array(capacity)
    this.positions = new OffsetMap(partitions, capacity)
    this.latency = createHistogram()
    this.conflicts = 0
    this.total = 0
    this.members = []
    this.replaced = 0
    this.cuts = 0
  }

  async start() {
    for (let i = 0; i < this.size; i++) this.members.push(await this.join(i))
  }

  async join(n) {
    const client = await connect(this.url, { name: `soak-member-${n}`, reconnect: RECONNECT, requestTimeoutMs: 120_000, drainTimeoutMs: 2000 })
    client.on('error', () => {})
    const consumer = await client.subscribe(this.topic, { group: this.group, from: 'earliest', maxInFlight: 500 }, (m) => this.take(m))
    return { client, consumer }
  }

  take(m) {
    const { id, sentAt } = parse(m.payload)
    this.total++
    if (id >= 0 && id < this.deliveries.length) {
      if (this.deliveries[id] === 0) recordMs(this.latency, Date.now() - sentAt)
      if (this.deliveries[id] < 0xffff) this.deliveries[id]++
    }
    if (!this.positions.set(m.partition, m.offset, id)) this.conflicts++
    m.ack()
  }

  /** A member leaves (what it held is redelivered to the others) and a new one joins. */
  async replaceOne(random) {
    const i = Math.floor(random() * this.members.length)
    const old = this.members[i]
    await old.client.close().catch(() => {})
    this.members[i] = await this.join(this.size + this.replaced)
    this.replaced++
  }

  /** Drop one member's connection as if the network failed. */
  cutOne(random) {
    const m = this.members[Math.floor(random() * this.members.length)]
    try {
      m.client.connection.abort(new SkiffError('CONNECTION_CLOSED', 'soak: connection cut'))
      this.cuts++
    } catch {
      // already reconnecting
    }
  }

  async close() {
    await Promise.all(this.members.map((m) => m.client.close().catch(() => {})))
  }
}

/**
 * Read the whole topic with a fresh group: partition/offset -> id for every
 * record, and how often each id is stored. Bounded by `timeoutMs`.
 */
export async function auditTopic(url, topic, { partitions, capacity }, timeoutMs) {
  const client = await connect(url, { name: 'soak-audit', reconnect: false, requestTimeoutMs: 60_000 })
  const stored = new Uint16Array(capacity)
  const log = new OffsetMap(partitions, capacity)
  let records = 0
  try {
    const info = await client.admin.describeTopic(topic)
    const expected = info.partitionInfo.reduce((n, p) => n + p.endOffset - p.startOffset, 0)
    const consumer = await client.subscribe(topic, { group: `audit-${Date.now()}`, from: 'earliest', maxInFlight: 5000 })
    const deadline = Date.now() + timeoutMs
    let last = Date.now()
    // A watchdog instead of a timer per read: ten quiet seconds (or the overall bound) end the audit.
    const watchdog = setInterval(() => {
      if (Date.now() - last > 10_000 || Date.now() > deadline) void consumer.close()
    }, 1000)
    try {
      for await (const m of consumer) {
        last = Date.now()
        const { id } = parse(m.payload)
        if (id >= 0 && id < capacity && stored[id] < 0xffff) stored[id]++
        log.set(m.partition, m.offset, id)
        m.ack()
        if (++records >= expected) break
      }
    } finally {
      clearInterval(watchdog)
    }
    return { stored, log, records, expected }
  } finally {
    await client.close().catch(() => {})
  }
}
