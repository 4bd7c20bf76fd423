/**
 * A producer in a cluster: the same API as Producer, each record sent to the
 * leader of the partition that must store it. It is one Producer (one
 * outbox, one maxInFlight, one producer id and ONE sequence space) whose
 * batches are per (topic, partition) and name their partition; each batch is
 * written to the connection of its partition's leader (partition-routes.ts,
 * cluster-router.ts), so (producerId, sequence) is unique across the
 * cluster whichever broker a batch reaches.
 *
 * Decisions written down here:
 * - The client picks every record's partition and sends it in the PUBLISH
 *   (`partition`), so a batch sent again lands in the same partition on
 *   whichever broker leads it then. A keyed record goes to
 *   `keyHash(key) % partitions`, as the broker computes it. Keyless records
 *   stick to one partition for a batch, then move on, round-robin over the
 *   partitions whose leader is connected (else live, else any): batches
 *   stay whole, and the load is spread over the brokers batch by batch
 *   (sticky-partitions.ts).
 * - A batch that is refused with NOT_LEADER, PARTITION_UNAVAILABLE or
 *   NOT_ENOUGH_REPLICAS (nothing stored, or "may be stored: resend it with
 *   the same sequence"), or whose broker's connection is lost, or whose
 *   partition's leader has no open connection when it is due, is held and
 *   sent again after a metadata refresh (with backoff), to the partition's
 *   leader then, with the SAME producer id, sequence, partition and records:
 *   never as a new batch, which a broker that already stored the first
 *   attempt would store a second time. The leader rebuilds its dedup window
 *   from its log when it takes over, so it acknowledges a batch it already
 *   has with the original offsets.
 * - Order: the batches of one partition are written in order, and when one
 *   is held the later ones of its partition are held behind it. Once routes
 *   may have changed, the earliest held batch of the partition is sent again
 *   alone (and only when nothing of the partition awaits an answer), then,
 *   once it is confirmed, the rest in order: a partition refused for a while
 *   is not sent its whole backlog at every retry. So one key's records keep publish
 *   order across a leader move, as they do across a reconnect to a single
 *   broker. Not covered (the broker does not check that a producer's
 *   sequences arrive in order): a refusal for batch n while batch n+1 of
 *   the same partition, already on the wire, is accepted, which takes a
 *   leader that refuses and then accepts within one round trip (the in-sync
 *   set growing back to minInSync, or a follower elected in between). Publish
 *   one key's records one at a time when that matters.
 * - Every publish keeps its deadline (requestTimeoutMs from the call),
 *   through any number of re-sends; then it rejects with TIMEOUT, outcome
 *   unknown, naming the last reason its batch was held. A leader's death
 *   costs the election (about the lease TTL, 3 s) and a refresh.
 * - Any other refusal goes to the caller as is. One for a partition the
 *   topic does not have (it was deleted and made again with fewer, and
 *   metadata here still has the old count) also refreshes metadata at once,
 *   so the next publishes are routed over the new count rather than failing
 *   until the periodic refresh (Kafka's producer fails that batch the same
 *   way).
 * - A topic metadata does not know is asked for; meanwhile its publishes
 *   wait, in call order (each within its deadline). If metadata still does
 *   not have it, the first publish goes without a partition to any broker,
 *   which creates the topic (auto-creation) and places the record; the rest
 *   wait for the placement. A keyed first record the creating broker does
 *   not lead is refused there with NOT_LEADER before anything is stored, and
 *   is then published again to its leader.
 * - send() (fire-and-forget) is routed the same way; its batches are held
 *   and sent like confirmed ones but never acknowledged (at-most-once: a
 *   refusal is the client's 'error'). A keyed send() to a topic metadata
 *   does not know yet is dropped (`stats.dropped.timeout`) with whenFull
 *   'drop' and waits for the placement with 'wait'.
 * - maxInFlight and maxBufferedBytes apply to the producer as a whole, as
 *   against a single broker.
 */
import { SkiffError, isSkiffError, type TopicPlacement } from '../protocol/index.js'
import type { Client } from './client.js'
import type { ClusterRouter } from './cluster-router.js'
import type { Connection } from './connection.js'
import type { ConnectionSource } from './link.js'
import { PartitionRoutes } from './partition-routes.js'
import { StickyPartitions } from './sticky-partitions.js'
import { Producer, type ProducerOptions, type ProducerStats, type PublishOptions, type PublishResult, type SendResult, type WhenFull } from './producer.js'

/** Refusals after which the topic-creating publish is made again to the partition's leader: nothing was stored. */
const NOT_STORED_HERE = new Set(['NOT_LEADER', 'PARTITION_UNAVAILABLE'])
/** How often metadata is asked again for a topic just created, before giving up on its placement. */
const PLACEMENT_TRIES = 10

/** A call waiting for its topic's placement. */
interface Waiting {
  payload: unknown
  opts: PublishOptions | undefined
  deadline: number
  /** publish(): settles the call. */
  resolve?: (r: PublishResult) => void
  reject?: (err: unknown) => void
  /** send() with whenFull 'wait': told whether it was queued. */
  admitted?: (ok: boolean) => void
}

/** The producer's view of the cluster: limits from the seed, the last reason a batch was held. */
class RoutedSource implements ConnectionSource {
  readonly waitLabel = "held for its partition's leader"
  constructor(
    private readonly seed: Client,
    private readonly routes: PartitionRoutes,
  ) {}

  get current(): Connection | undefined {
    return undefined
  }

  get maxFrame(): number {
    return this.seed.maxFrame
  }

  get requestTimeoutMs(): number {
    return this.seed.requestTimeoutMs
  }

  /** Why a batch was last held, if that was within the last requestTimeoutMs (what a publish timing out now waited on). */
  get lastError(): SkiffError | undefined {
    return this.routes.reasonSince(Date.now() - this.seed.requestTimeoutMs)
  }

  ready(timeoutMs: number, what: string): Promise<Connection> {
    return this.seed.ready(timeoutMs, what)
  }
}

/** A Producer that routes by the cluster's metadata (see the header comment). */
export class RoutedProducer<M extends WhenFull = 'drop'> extends Producer<M> {
  private readonly routes: PartitionRoutes
  /** Calls waiting for their topic's placement, in call order. */
  private readonly waiting = new Map<string, Waiting[]>()
  private readonly placing = new Map<string, Promise<void>>()
  private readonly sticky: StickyPartitions
  private closedReason: SkiffError | undefined
  /** send() records dropped because their topic's placement was not known (counted in stats.dropped.timeout). */
  private noRoute = 0

  /** @internal */
  constructor(
    seed: Client,
    private readonly router: ClusterRouter,
    private readonly producerOpts: ProducerOptions<M>,
  ) {
    const routes = new PartitionRoutes(router)
    super(new RoutedSource(seed, routes), producerOpts, routes)
    this.routes = routes
    this.sticky = new StickyPartitions({ openBatch: (topic, confirm, partition) => this.openBatch(topic, confirm, partition), next: (t) => router.keylessPartition(t) })
    routes.retry = () => this.retryHeld()
    routes.oldestInFlightMs = (now) => this.oldestInFlightMs(now)
    router.producers.add(routes)
    // Connect to the brokers now, so the first records find their leader's connection open.
    router.warmUp()
  }

  override get unconfirmed(): number {
    let n = super.unconfirmed
    for (const calls of this.waiting.values()) n += calls.filter((c) => c.resolve).length
    return n
  }

  override get stats(): ProducerStats {
    const s = super.stats
    s.dropped.timeout += this.noRoute
    return s
  }

  override publish(topic: string, payload: unknown, opts?: PublishOptions): Promise<PublishResult> {
    if (this.closedReason) return Promise.reject(this.closedError())
    const t = this.router.placement(topic)
    if (t && !this.waiting.has(topic)) return this.publishAt(topic, this.partitionFor(t, opts?.key, true), payload, opts, undefined)
    // A retry may come after the caller reused its buffer.
    const data = payload instanceof Uint8Array ? Buffer.from(payload) : payload
    const deadline = Date.now() + this.router.requestTimeoutMs
    return new Promise((resolve, reject) => this.whenPlaced(topic, { payload: data, opts, deadline, resolve, reject }))
  }

  override send(topic: string, payload: unknown, opts?: PublishOptions): SendResult<M> {
    const wait = this.producerOpts.whenFull === 'wait'
    if (this.closedReason) return this.sendAt(topic, undefined, payload, opts) // counted as dropped (closed)
    const t = this.router.placement(topic)
    if (t && !this.waiting.has(topic)) return this.sendAt(topic, this.partitionFor(t, opts?.key, false), payload, opts)
    // Keyless: any broker takes it (and creates the topic); keyed: its partition is not known yet.
    if (opts?.key === undefined && !this.waiting.has(topic)) {
      this.router.learn(topic).catch(() => undefined)
      return this.sendAt(topic, undefined, payload, opts)
    }
    if (!wait) {
      this.router.learn(topic).catch(() => undefined)
      this.noRoute++
      return false as SendResult<M>
    }
    const data = payload instanceof Uint8Array ? Buffer.from(payload) : payload
    const deadline = Date.now() + this.router.requestTimeoutMs
    return new Promise<boolean>((admitted) => this.whenPlaced(topic, { payload: data, opts, deadline, admitted })) as SendResult<M>
  }

  /** Every publish made before is settled, those waiting for their topic's placement included. */
  override async flush(): Promise<void> {
    while (this.placing.size > 0) await Promise.allSettled([...this.placing.values()])
    await super.flush()
  }

  /** @internal The seed connection is lost: nothing of this producer is on it. */
  override interrupted(): void {}

  /** @internal The seed connection is back: a chance to send what is held. */
  override resumed(): void {
    this.retryHeld()
  }

  /** @internal */
  override connectionLost(err: SkiffError): void {
    this.closedReason ??= err
    this.routes.close()
    this.router.producers.delete(this.routes)
    const waiting = [...this.waiting.values()].flat()
    this.waiting.clear()
    for (const w of waiting) {
      w.reject?.(this.closedError())
      w.admitted?.(false)
    }
    super.connectionLost(err)
  }

  private closedError(): SkiffError {
    const why = this.closedReason!
    return new SkiffError('CONNECTION_CLOSED', `cannot publish: ${why.message}`, { cause: why })
  }

  /** The partition a record goes to (see the header comment); undefined for a topic without partitions. */
  private partitionFor(t: TopicPlacement, key: string | undefined, confirm: boolean): number | undefined {
    if (key !== undefined) return this.router.partitionOfKey(t, key)
    return this.sticky.pick(t, confirm)
  }

  /** Queue `call` until `topic` has a placement (or is known to have none). */
  private whenPlaced(topic: string, call: Waiting): void {
    const calls = this.waiting.get(topic)
    if (calls) {
      calls.push(call)
      return
    }
    this.waiting.set(topic, [call])
    const done = this.place(topic).finally(() => this.placing.delete(topic))
    this.placing.set(topic, done)
  }

  /** Learn the topic's placement (creating the topic with its first record when nobody made it), then release its calls in order. */
  private async place(topic: string): Promise<void> {
    let failure: unknown
    try {
      await this.router.learn(topic)
      if (!this.router.placement(topic) && this.router.isAbsent(topic)) await this.create(topic)
    } catch (err) {
      failure = err
    }
    const calls = this.waiting.get(topic) ?? []
    this.waiting.delete(topic)
    const t = this.router.placement(topic)
    for (const c of calls) {
      if (Date.now() >= c.deadline) this.expire(topic, c)
      else if (!t && failure !== undefined) this.fail(c, failure)
      else this.release(topic, t, c)
    }
  }

  /**
   * The topic is not in metadata: its first call goes to any broker without
   * a partition (it creates the topic), then metadata is asked until it has
   * the placement. That call is released with the others when its broker
   * refused it for a partition it does not lead (nothing stored).
   */
  private async create(topic: string): Promise<void> {
    const calls = this.waiting.get(topic)!
    const first = calls[0]!
    if (first.resolve) {
      try {
        const r = await this.publishAt(topic, undefined, first.payload, first.opts, first.deadline)
        calls.shift()
        first.resolve(r)
      } catch (err) {
        if (!isSkiffError(err) || !NOT_STORED_HERE.has(err.code)) {
          calls.shift()
          first.reject!(err)
        }
      }
    } else {
      calls.shift()
      first.admitted!((await this.sendAt(topic, undefined, first.payload, first.opts)) as boolean)
    }
    for (let i = 0; i < PLACEMENT_TRIES && !this.router.placement(topic); i++) {
      await this.router.learn(topic)
      if (!this.router.placement(topic)) await new Promise((r) => setTimeout(r, 100 * (i + 1)).unref())
    }
  }

  private release(topic: string, t: TopicPlacement | undefined, c: Waiting): void {
    const partition = t ? this.partitionFor(t, c.opts?.key, c.resolve !== undefined) : undefined
    if (c.resolve) this.publishAt(topic, partition, c.payload, c.opts, c.deadline).then(c.resolve, c.reject)
    else void Promise.resolve(this.sendAt(topic, partition, c.payload, c.opts)).then(c.admitted)
  }

  private expire(topic: string, c: Waiting): void {
    this.fail(c, new SkiffError('TIMEOUT', `publish to ${topic} not confirmed within ${this.router.requestTimeoutMs} ms (its topic's placement was not known)`, { details: { topic } }))
  }

  private fail(c: Waiting, err: unknown): void {
    c.reject?.(err)
    if (c.admitted) {
      this.noRoute++
      c.admitted(false)
    }
  }
}
