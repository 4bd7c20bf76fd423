/**
 * A producer in a cluster: the same API as Producer, each record routed to
 * the broker that must store it (cluster-router.ts), through one ordinary
 * Producer per broker link. Those inner producers batch, bound, time out and
 * re-send after a reconnect (same producer id and sequence) as they do
 * against a single broker.
 *
 * Decisions written down here:
 * - A keyed record goes to the leader of `keyHash(key) % partitions`, as
 *   the broker computes it; a keyless one to a broker leading a partition of
 *   the topic (round-robin over those that are up), which stores it in a
 *   partition it leads. Routing is decided synchronously when metadata knows
 *   the topic, so one key's records reach their broker in call order.
 * - NOT_LEADER and PARTITION_UNAVAILABLE mean nothing was stored: the
 *   publish is made again (a new batch) after a metadata refresh, with
 *   backoff, until its requestTimeoutMs from the call; then the last such
 *   error is the rejection. Any other error goes to the caller as is.
 *   A publish sent again this way may land after a later publish of the
 *   same key that was not refused (as with Kafka's retries and more than one
 *   request in flight); publish one key's records one at a time when that
 *   matters. A broker that has just restarted refuses with
 *   PARTITION_UNAVAILABLE until it serves its partitions again, so the
 *   batches its link re-sends may be among them.
 * - A publish whose broker is down waits on that broker's link (its
 *   partitions wait for it in this cluster mode) and completes once it is
 *   back, or rejects with TIMEOUT after requestTimeoutMs (outcome unknown).
 * - A topic metadata does not know is asked for once; if still unknown the
 *   record goes to any live broker (the broker creates the topic), and the
 *   next refresh routes by its placement.
 * - send() (fire-and-forget) is routed the same way but never retried: a
 *   refusal is the client's 'error', as for a single broker. A send() that
 *   finds no open route (its topic or its broker's connection not known
 *   yet) is dropped and counted in `stats.dropped.timeout` with whenFull
 *   'drop'; with 'wait' it waits for the route, at most requestTimeoutMs.
 *   Links to every live broker are opened when a producer is made, so this
 *   is rare past the first moments.
 * - maxInFlight and maxBufferedBytes apply per broker link. `producerId` is
 *   this producer's own id; each broker link's batches carry the id of the
 *   inner producer for that broker.
 */
import { SkiffError, isSkiffError } from '../protocol/index.js'
import type { Client } from './client.js'
import type { ClusterRouter } from './cluster-router.js'
import { Producer, type ProducerOptions, type ProducerStats, type PublishOptions, type PublishResult, type SendResult, type WhenFull } from './producer.js'

const ROUTING_ERRORS = new Set(['NOT_LEADER', 'PARTITION_UNAVAILABLE'])
const FIRST_BACKOFF_MS = 25
const MAX_BACKOFF_MS = 1000

/** A Producer that routes by the cluster's metadata (see the header comment). */
export class RoutedProducer<M extends WhenFull = 'drop'> extends Producer<M> {
  private readonly inner = new Map<number, { client: Client; producer: Producer<M> }>()
  /** Publishes between a refusal (or no route) and their next attempt's outcome. */
  private readonly retrying = new Set<Promise<PublishResult>>()
  private readonly routed = { confirmed: 0, failed: 0, retried: 0 }
  private closedReason: SkiffError | undefined
  /** send() records dropped because no broker connection could take them (counted in stats.dropped.timeout). */
  private noRoute = 0

  /** @internal */
  constructor(
    seed: Client,
    private readonly router: ClusterRouter,
    private readonly producerOpts: ProducerOptions<M>,
  ) {
    super(seed, producerOpts)
    // Connect to the brokers now, so the first records find their broker's connection open.
    router.warmUp()
  }

  override get unconfirmed(): number {
    let n = 0
    for (const { producer } of this.inner.values()) n += producer.unconfirmed
    return n
  }

  /** The sums over the broker links; `confirmed` and `failed` count publish() calls once each, retries included. */
  override get stats(): ProducerStats {
    const s: ProducerStats = { confirmed: this.routed.confirmed, failed: this.routed.failed, sent: 0, dropped: { full: 0, timeout: this.noRoute, closed: 0 }, resentBatches: 0 }
    for (const { producer } of this.inner.values()) {
      const p = producer.stats
      s.sent += p.sent
      s.dropped.full += p.dropped.full
      s.dropped.timeout += p.dropped.timeout
      s.dropped.closed += p.dropped.closed
      s.resentBatches += p.resentBatches
    }
    return s
  }

  override publish(topic: string, payload: unknown, opts?: PublishOptions): Promise<PublishResult> {
    if (this.closedReason) return Promise.reject(new SkiffError('CONNECTION_CLOSED', `cannot publish: ${this.closedReason.message}`, { cause: this.closedReason }))
    // A retry may come after the caller reused its buffer.
    const data = payload instanceof Uint8Array ? Buffer.from(payload) : payload
    const deadline = Date.now() + this.router.requestTimeoutMs
    // The common case, routable now: straight to the broker's producer; the retry loop only after a refusal.
    const id = this.router.placement(topic) ? this.target(topic, opts?.key) : undefined
    const producer = id === undefined ? undefined : this.producerFor(id)
    const call = producer
      ? producer.publish(topic, data, opts).catch((err: unknown) => {
          if (!isSkiffError(err) || !ROUTING_ERRORS.has(err.code)) throw err
          this.routed.retried++
          return this.track(this.run(topic, data, opts, deadline, err))
        })
      : this.track(this.run(topic, data, opts, deadline, undefined))
    return call.then(this.confirmedOne, this.failedOne)
  }

  private readonly confirmedOne = (r: PublishResult): PublishResult => {
    this.routed.confirmed++
    return r
  }

  private readonly failedOne = (err: unknown): never => {
    this.routed.failed++
    throw err
  }

  /** Keep `p` in `retrying` until it settles (for flush()). */
  private track(p: Promise<PublishResult>): Promise<PublishResult> {
    this.retrying.add(p)
    const forget = (): void => {
      this.retrying.delete(p)
    }
    p.then(forget, forget)
    return p
  }

  override send(topic: string, payload: unknown, opts?: PublishOptions): SendResult<M> {
    const wait = this.producerOpts.whenFull === 'wait'
    if (this.closedReason) return (wait ? Promise.resolve(false) : false) as SendResult<M>
    const p = this.sendTarget(topic, opts?.key)
    if (p) return p.send(topic, payload, opts)
    if (!wait) {
      this.noRoute++
      return false as SendResult<M>
    }
    return this.sendLater(topic, payload instanceof Uint8Array ? Buffer.from(payload) : payload, opts) as SendResult<M>
  }

  /** The inner producer a send() goes to now, or undefined (metadata or the link is not there yet: asked for). */
  private sendTarget(topic: string, key: string | undefined): Producer<M> | undefined {
    if (!this.router.placement(topic) && !this.router.isAbsent(topic)) {
      this.router.learn(topic).catch(() => undefined)
      // A keyless record may go to any broker (it stores it in a partition it leads); a keyed one waits for the placement.
      return key === undefined ? this.anyProducer() : undefined
    }
    const id = this.target(topic, key)
    return id === undefined ? undefined : this.producerFor(id)
  }

  /** send() with whenFull 'wait' and no route yet: wait for one (at most requestTimeoutMs), then send. */
  private async sendLater(topic: string, payload: unknown, opts: PublishOptions | undefined): Promise<boolean> {
    const deadline = Date.now() + this.router.requestTimeoutMs
    let backoff = FIRST_BACKOFF_MS
    while (Date.now() + backoff < deadline && !this.closedReason) {
      if (!this.router.placement(topic) && !this.router.isAbsent(topic)) await this.waitFor(this.router.learn(topic))
      const id = this.target(topic, opts?.key)
      const p = id === undefined ? undefined : this.producerFor(id)
      if (p) return p.send(topic, payload, opts) as Promise<boolean>
      if (id !== undefined && (await this.waitFor(this.router.link(id)))) continue
      await sleep(backoff)
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
    }
    this.noRoute++
    return false
  }

  /**
   * Every publish made before is settled: the broker producers' calls, then
   * (after a turn, so that refusals they just got have gone back to routing)
   * the publishes being routed again, then what those handed to a producer.
   */
  override async flush(): Promise<void> {
    const inner = (): Promise<unknown> => Promise.all([...this.inner.values()].map(({ producer }) => producer.flush()))
    await inner()
    await new Promise((resolve) => setImmediate(resolve))
    if (this.retrying.size === 0) return
    await Promise.allSettled([...this.retrying])
    await inner()
  }

  /** @internal */
  override connectionLost(err: SkiffError): void {
    this.closedReason ??= err
    super.connectionLost(err)
  }

  /**
   * Route and publish, again after each refusal. Waiting for metadata or for
   * a link to open is on promises shared by every call that waits for the
   * same thing, so those calls go on in call order and a key's records keep
   * it; a refusal waits a backoff too.
   */
  private async run(topic: string, payload: unknown, opts: PublishOptions | undefined, deadline: number, refused: SkiffError | undefined): Promise<PublishResult> {
    let backoff = FIRST_BACKOFF_MS
    let refusal = refused
    if (refused) backoff = await this.pause(backoff, topic, deadline, refusal, true)
    for (let attempt = refused ? 1 : 0; ; attempt++) {
      if (attempt > 0) this.checkTime(topic, deadline, refusal)
      if (!this.router.placement(topic) && !this.router.isAbsent(topic)) {
        if (!(await this.waitFor(this.router.learn(topic)))) backoff = await this.pause(backoff, topic, deadline, refusal)
        continue
      }
      const id = this.target(topic, opts?.key)
      if (id === undefined) {
        // No broker known for it: a broker left metadata and its address was never seen.
        backoff = await this.pause(backoff, topic, deadline, refusal, true)
        continue
      }
      const producer = this.producerFor(id)
      if (!producer) {
        if (!(await this.waitFor(this.router.link(id)))) backoff = await this.pause(backoff, topic, deadline, refusal)
        continue
      }
      try {
        const p = producer.publish(topic, payload, opts)
        // The inner producer times the first attempt out by itself; later ones get what is left.
        return await (attempt === 0 ? p : withDeadline(p, deadline, topic))
      } catch (err) {
        if (!isSkiffError(err) || !ROUTING_ERRORS.has(err.code)) throw err
        refusal = err
        this.routed.retried++
      }
      backoff = await this.pause(backoff, topic, deadline, refusal, true)
    }
  }

  /** True once `p` resolved; false when it failed (the caller backs off). */
  private waitFor(p: Promise<unknown>): Promise<boolean> {
    return p.then(
      () => true,
      () => false,
    )
  }

  /** Wait a backoff (refreshing metadata meanwhile when `refresh`); returns the next backoff. */
  private async pause(backoff: number, topic: string, deadline: number, refusal: SkiffError | undefined, refresh = false): Promise<number> {
    if (Date.now() + backoff >= deadline) this.checkTime(topic, Date.now(), refusal)
    await Promise.all([refresh ? this.router.refresh().catch(() => undefined) : undefined, sleep(backoff)])
    return Math.min(backoff * 2, MAX_BACKOFF_MS)
  }

  /** Throw when the publish is out of time: the last refusal, else PARTITION_UNAVAILABLE. */
  private checkTime(topic: string, deadline: number, refusal: SkiffError | undefined): void {
    if (this.closedReason) throw new SkiffError('CONNECTION_CLOSED', `cannot publish: ${this.closedReason.message}`, { cause: this.closedReason })
    if (Date.now() < deadline) return
    throw refusal ?? new SkiffError('PARTITION_UNAVAILABLE', `no broker to publish to ${topic} on within ${this.router.requestTimeoutMs} ms`, { details: { topic } })
  }

  /** The broker a record goes to, or undefined when metadata cannot tell yet. */
  private target(topic: string, key: string | undefined): number | undefined {
    const t = this.router.placement(topic)
    if (!t) return this.router.isAbsent(topic) ? this.router.keylessTarget(undefined) : undefined
    return key === undefined ? this.router.keylessTarget(t) : this.router.leaderOfKey(t, key)
  }

  /** This producer's inner producer on broker `id`'s link, when that link is made. */
  private producerFor(id: number): Producer<M> | undefined {
    const client = this.router.linkNow(id)
    if (!client) return undefined
    const known = this.inner.get(id)
    if (known?.client === client) return known.producer
    const producer = client.producer<M>(this.producerOpts)
    this.inner.set(id, { client, producer })
    return producer
  }

  private anyProducer(): Producer<M> | undefined {
    for (const { client, producer } of this.inner.values()) if (client.status === 'connected') return producer
    return undefined
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/** `p`, or TIMEOUT at `deadline` (the publish may still be stored: its outcome is unknown). */
function withDeadline<T>(p: Promise<T>, deadline: number, topic: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SkiffError('TIMEOUT', `publish to ${topic} not confirmed in time (outcome unknown)`, { details: { topic } })), Math.max(0, deadline - Date.now()))
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}
