/**
 * A consumer in a cluster: one subscription per broker that leads a
 * partition of the topic, each an ordinary Consumer on that broker's link
 * (cluster-router.ts), merged into the one Consumer the user iterates or
 * gives handlers.
 *
 * Why a subclass of Consumer rather than a Consumer with several sources:
 * `client.subscribe()` keeps returning a Consumer (instanceof, every method
 * and event), while the single-broker consumer, whose hot path is a DELIVER
 * frame read straight into its buffer, stays exactly as it is. The inner
 * consumers keep everything that is per connection: credits, batched
 * settlements on the connection the message came on (a Message settles
 * through the consumer that made it), re-subscribing after their broker
 * restarts, dropping what their lost connection had delivered.
 *
 * Decisions written down here:
 * - The subscription's maxInFlight is split over the brokers by their share
 *   of the topic's partitions (at least 1 each).
 * - A pump per inner consumer takes its messages as they come and queues
 *   them here, so the queue is bounded by the credits, as a single
 *   consumer's buffer is. Messages queued from a broker whose connection is
 *   lost are dropped (the broker delivers them again), as a single consumer
 *   drops its buffer.
 * - Messages of one partition come from one broker, in order; partitions of
 *   different brokers interleave as they arrive.
 * - close() nacks what is queued and not taken (the broker would redeliver
 *   it once the subscription ends anyway), waits for the handlers, then
 *   closes every inner consumer (each waits for its taken messages to be
 *   settled, sends the settlements and unsubscribes).
 * - Each inner subscription names the partitions its broker leads. On every
 *   metadata change (a refresh, periodic or after a link was lost or a
 *   refusal, and a link connecting), each broker's subscriptions are made to
 *   name what it leads now: a broker that lost a partition has its
 *   subscriptions replaced (the new set subscribed first, then the old ones
 *   closed, in the background, within drainTimeoutMs: the acks of messages
 *   already taken from them are sent first); a broker whose share only grew
 *   (it took over a dead leader's partitions) gets one more subscription
 *   naming just the new ones, so the partitions it already served are never
 *   under two subscriptions of the group at once (they would compete, and
 *   what the closing one held would come again after newer messages). A
 *   broker newly leading a partition is subscribed; the subscriptions at a
 *   broker that leads none of the topic's partitions any more are closed. The user's consumer goes on
 *   through a leader's death without subscribing again: its partitions are
 *   read from the new leader once metadata names it (the election, about
 *   the lease TTL), from the group's position as replicated with the
 *   partition.
 * - A broker that stops leading partitions a subscription there covers says
 *   so at once (an unsolicited NOT_LEADER naming the subscription): the
 *   consumer refreshes metadata and follows them then, not at the periodic
 *   refresh (see follow()). A connection that stays up while only the
 *   leadership moves (a partition moved, an election while the old leader
 *   was cut off from etcd or paused) would otherwise bring nothing of them
 *   for up to metadataRefreshMs.
 * - At-least-once across a move: a message taken from a replaced
 *   subscription is settled on the connection it came on (its Message
 *   settles through the consumer that made it), and a broker that no longer
 *   leads its partition may refuse or ignore that ack; the new leader then
 *   delivers it again. What a replaced subscription delivers until it
 *   closes is handed out, in the order its connection brought it.
 * - A subscription refused retriably (a new leader not serving yet) is
 *   tried again after a metadata refresh, with backoff (250 ms doubling to
 *   2 s). An inner subscription that fails for good (UNKNOWN_TOPIC after a
 *   delete) ends this consumer with it.
 */
import { SkiffError, type TopicPlacement } from '../protocol/index.js'
import type { Client } from './client.js'
import type { ClusterRouter } from './cluster-router.js'
import { HandlerRunner, type MessageHandler } from './consumer-handlers.js'
import { Consumer, type ConsumerCloseOptions, type SubscribeOptions, type Subscription } from './consumer.js'
import type { Message } from './message.js'

interface Queued {
  msg: Message
  broker: number
  from: Consumer
}

/** An inner subscription at one broker and the partitions it named (undefined: none, the broker's own). */
interface Source {
  consumer: Consumer
  partitions: number[] | undefined
}

const FIRST_RETRY_MS = 250
const MAX_RETRY_MS = 2000

interface Waiter {
  resolve(r: IteratorResult<Message>): void
  reject(err: unknown): void
}

const DONE: IteratorResult<Message> = { done: true, value: undefined }

/** A Consumer over one subscription per broker (see the header comment). */
export class MergedConsumer extends Consumer {
  /** Inner subscriptions by broker: usually one; more while a broker's share only grew (see sync()). */
  private readonly sources = new Map<number, Source[]>()
  /** Subscriptions being made, by broker: the partitions they name. */
  private readonly attaching = new Map<number, string>()
  private retryTimer: NodeJS.Timeout | undefined
  private retryMs = FIRST_RETRY_MS
  private queue: Queued[] = []
  private waiting: Waiter[] = []
  private runner: HandlerRunner | undefined
  private phase: 'open' | 'closing' | 'closed' = 'open'
  private endError: SkiffError | undefined
  private taken: Message | undefined
  private closePromise: Promise<void> | undefined
  private idleWakers: (() => void)[] = []

  /** @internal */
  constructor(
    seed: Client,
    subscription: Subscription,
    private readonly router: ClusterRouter,
    private readonly userOpts: SubscribeOptions,
    private readonly auto: boolean,
    private readonly handlerConcurrency: number,
  ) {
    super(seed, subscription, false, 1)
    // 'newListener' is Node's own event, outside ConsumerEvents on purpose.
    ;(this as unknown as NodeJS.EventEmitter).on('newListener', (event: string | symbol) => {
      if (event === 'message') queueMicrotask(() => this.startRunner())
    })
  }

  /** Subscribe at every broker leading a partition of the topic; rejects only when none accepted. */
  async open(): Promise<void> {
    let t = this.router.placement(this.topic)
    if (!t) {
      await this.router.learn(this.topic)
      t = this.router.placement(this.topic) ?? (await this.create())
      if (!t) return // kept as made: subscribed where the topic was created
    }
    // A broker that is down now is subscribed when it is back (or when another leads its partitions),
    // in the background: subscribe() resolves with the others rather than waiting requestTimeoutMs for it.
    const want = ledByBroker(t)
    const [up, down] = partition([...want.keys()], (id) => !this.router.isDown(id))
    for (const id of down) this.attach(id, want.get(id)!, true).catch((err: unknown) => this.attachFailed(err))
    if (up.length === 0) return
    const outcomes = await Promise.allSettled(up.map((id) => this.attach(id, want.get(id)!, true)))
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')
    // A broker that is down now is subscribed at the next refresh; one refusal for good ends it all.
    const fatal = failed.find((o) => !(o.reason instanceof SkiffError) || !o.reason.retriable)
    if (fatal || failed.length === outcomes.length) {
      await this.close({ timeoutMs: 1 })
      throw failed[0]!.reason
    }
  }

  /**
   * A topic nobody made: a subscription at one broker creates it (when the
   * brokers auto-create topics). Once metadata has its placement, that
   * subscription is replaced by the named ones: a subscription without
   * partition names covers what its broker leads at the time it is made,
   * which is nothing while a restarted broker has not taken its partitions
   * back yet, so the named form is the one that survives a restart.
   */
  private async create(): Promise<TopicPlacement | undefined> {
    const id = this.router.keylessTarget(undefined)
    if (id === undefined) throw new SkiffError('PARTITION_UNAVAILABLE', `no broker to subscribe to ${this.topic} at`)
    await this.attach(id, undefined, true)
    const first = this.sources.get(id)?.[0]
    await this.router.learn(this.topic)
    const t = this.router.placement(this.topic)
    if (!t || !first) return undefined
    // A refresh meanwhile may have added or put the named subscriptions in its place already.
    this.forgetSource(id, first.consumer)
    this.dropFrom(first.consumer) // its messages come again on the named subscription
    await first.consumer.close({ timeoutMs: 1 })
    return t
  }

  /**
   * @internal Metadata or a link changed: make each broker's subscriptions
   * name the partitions it leads now (see the header comment). A broker
   * whose share only grew gets one more subscription naming the new
   * partitions, so the partitions it already served are not subscribed
   * twice (two subscriptions of one group compete for a partition's
   * messages, and what the closing one held would come again after newer
   * ones); one that lost a partition gets its subscriptions replaced.
   */
  sync(): void {
    if (this.phase !== 'open') return
    const t = this.router.placement(this.topic)
    if (!t) return
    const want = ledByBroker(t)
    for (const [id, parts] of want) {
      // One subscription being made per broker: when it is in, sync() runs again.
      if (this.attaching.has(id)) continue
      const covered = new Set((this.sources.get(id) ?? []).flatMap((s) => s.partitions ?? []))
      const gained = parts.filter((p) => !covered.has(p))
      const lost = [...covered].some((p) => !parts.includes(p))
      if (lost) this.attach(id, parts, true).catch((err: unknown) => this.attachFailed(err))
      else if (gained.length > 0) this.attach(id, gained, false).catch((err: unknown) => this.attachFailed(err))
    }
    for (const [id, sources] of this.sources) {
      if (want.has(id) || this.attaching.has(id)) continue
      // Leads none of the topic's partitions now: its messages come from their new leaders.
      this.sources.delete(id)
      for (const s of sources) void s.consumer.close({ timeoutMs: this.router.drainTimeoutMs }).catch(() => undefined)
    }
  }

  /** @internal Broker `id`'s connection is lost: what it delivered and is still queued here is redelivered by it. */
  interruptedAt(id: number): void {
    if (this.queue.some((q) => q.broker === id)) this.queue = this.queue.filter((q) => q.broker !== id)
  }

  /** Drop what `inner` delivered and is still queued here (it is closed without settling them: redelivered). */
  private dropFrom(inner: Consumer): void {
    if (this.queue.some((q) => q.from === inner)) this.queue = this.queue.filter((q) => q.from !== inner)
  }

  private isSource(id: number, inner: Consumer): boolean {
    return this.sources.get(id)?.some((s) => s.consumer === inner) ?? false
  }

  private forgetSource(id: number, inner: Consumer): void {
    const left = this.sources.get(id)?.filter((s) => s.consumer !== inner)
    if (!left) return
    if (left.length > 0) this.sources.set(id, left)
    else this.sources.delete(id)
  }

  /**
   * Subscribe at broker `id` to `parts` (named in its SUBSCRIBE: a broker
   * that has just become leader may not serve them yet, and is then asked
   * again; undefined only for the subscription that creates the topic),
   * replacing the subscriptions it had there (`replace`) or beside them.
   */
  private async attach(id: number, parts: number[] | undefined, replace: boolean): Promise<void> {
    const key = parts?.join(',') ?? ''
    this.attaching.set(id, key)
    let made = false
    try {
      const client = await this.router.link(id)
      const opts: SubscribeOptions = { ...this.userOpts, autoAck: false, maxInFlight: this.shareOf(parts?.length) }
      const inner = await client.subscribeTo(this.topic, opts, undefined, parts)
      if (this.phase !== 'open') {
        await inner.close({ timeoutMs: 1 })
        return
      }
      const had = this.sources.get(id) ?? []
      const source: Source = { consumer: inner, partitions: parts }
      inner.onLeadershipMoved = (moved) => this.follow(id, moved, FIRST_RETRY_MS)
      this.sources.set(id, replace ? [source] : [...had, source])
      this.partitions = this.router.placement(this.topic)?.partitions.map((p) => p.partition) ?? inner.partitions
      void this.pump(id, inner)
      // Replaced: closed once the acks of what was taken from them are sent (within drainTimeoutMs).
      if (replace) for (const old of had) void old.consumer.close({ timeoutMs: this.router.drainTimeoutMs }).catch(() => undefined)
      made = true
      this.retryMs = FIRST_RETRY_MS
    } finally {
      if (this.attaching.get(id) === key) this.attaching.delete(id)
    }
    // Metadata may have moved on while this was being made.
    if (made) this.sync()
  }

  private attachFailed(err: unknown): void {
    if (err instanceof SkiffError && err.retriable) return this.retryLater()
    this.endWith(err instanceof SkiffError ? err : new SkiffError('INTERNAL', String(err), { cause: err }))
  }

  /** A subscription refused retriably: refresh metadata after a backoff (the refresh syncs again). */
  private retryLater(): void {
    if (this.retryTimer || this.phase !== 'open') return
    const wait = this.retryMs
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.router.refresh().then(
        () => this.sync(),
        () => this.retryLater(),
      )
    }, wait)
    this.retryTimer.unref()
  }

  /**
   * Broker `id` says it no longer leads `moved` (an unsolicited NOT_LEADER):
   * refresh metadata and sync at once, rather than at the periodic refresh.
   * The broker may say so a moment before etcd names the new leader (a
   * leader hands over by stepping down first), and the broker that answers
   * the refresh may not have seen it yet: while metadata still names `id`,
   * asked again after 250 ms, doubling, up to 2 s (about 4 s in all; the
   * periodic refresh does the rest).
   */
  private follow(id: number, moved: number[], waitMs: number): void {
    if (this.phase !== 'open') return
    this.router.refresh().then(
      () => {
        this.sync()
        const t = this.router.placement(this.topic)
        const stale = t?.partitions.some((p) => p.leader === id && (moved.length === 0 || moved.includes(p.partition)))
        if (!stale || waitMs > MAX_RETRY_MS || this.phase !== 'open') return
        setTimeout(() => this.follow(id, moved, waitMs * 2), waitMs).unref()
      },
      () => this.retryLater(),
    )
  }

  /** maxInFlight split by the broker's share (`led` partitions) of the topic's partitions. */
  private shareOf(led: number | undefined): number {
    const t = this.router.placement(this.topic)
    const total = this.subscription.maxInFlight
    if (!t || t.partitions.length === 0 || led === undefined) return total
    return Math.max(1, Math.round((total * led) / t.partitions.length))
  }

  private async pump(id: number, inner: Consumer): Promise<void> {
    try {
      for (;;) {
        const r = await inner.next()
        if (r.done) break
        // From a replaced subscription too, until it closes: handed out in the order its connection brought it.
        this.push(r.value, id, inner)
      }
    } catch (err) {
      // A replaced subscription's end is not this consumer's.
      if (this.isSource(id, inner)) this.endWith(err instanceof SkiffError ? err : new SkiffError('INTERNAL', String(err), { cause: err }))
    } finally {
      this.forgetSource(id, inner)
    }
  }

  private push(msg: Message, broker: number, from: Consumer): void {
    if (this.phase !== 'open') {
      msg.nack()
      return
    }
    const reader = this.waiting.shift()
    if (reader) {
      this.taken = msg
      reader.resolve({ done: false, value: msg })
      return
    }
    this.queue.push({ msg, broker, from })
    this.runner?.run()
  }

  private takeOne(): Message | undefined {
    if (this.phase !== 'open') return undefined
    return this.queue.shift()?.msg
  }

  override get closed(): boolean {
    return this.phase !== 'open'
  }

  override get buffered(): number {
    return this.queue.length
  }

  override next(): Promise<IteratorResult<Message>> {
    if (this.runner) return Promise.reject(new SkiffError('INVALID_REQUEST', `${this.topic}/${this.group} has 'message' handlers; do not also iterate it`))
    if (this.auto && this.taken && !this.taken.settled) this.taken.ack()
    this.taken = undefined
    const msg = this.takeOne()
    if (msg) {
      this.taken = msg
      return Promise.resolve({ done: false, value: msg })
    }
    if (this.endError) {
      const err = this.endError
      this.endError = undefined
      return Promise.reject(err)
    }
    if (this.phase !== 'open') return Promise.resolve(DONE)
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
  }

  override async return(): Promise<IteratorResult<Message>> {
    if (this.taken && !this.taken.settled) this.taken.nack()
    this.taken = undefined
    await this.close()
    return DONE
  }

  override close(opts: ConsumerCloseOptions = {}): Promise<void> {
    this.closePromise ??= this.closeAll(opts.timeoutMs ?? this.router.drainTimeoutMs)
    return this.closePromise
  }

  private async closeAll(timeoutMs: number): Promise<void> {
    this.beginClose()
    await this.idle(timeoutMs)
    await Promise.all([...this.sources.values()].flat().map((s) => s.consumer.close({ timeoutMs })))
    this.finish(undefined)
  }

  /** @internal Stop handing out messages: readers end, queued messages go back to the brokers. */
  override beginClose(): void {
    if (this.phase !== 'open') return
    this.phase = 'closing'
    for (const q of this.queue) q.msg.nack()
    this.queue = []
    for (const r of this.waiting.splice(0)) r.resolve(DONE)
  }

  /** @internal Resolves once no handler runs (at most after `timeoutMs`); taken messages are the inner consumers' to wait for. */
  override idle(timeoutMs: number): Promise<void> {
    if ((this.runner?.running ?? 0) === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.idleWakers.push(done)
    })
  }

  /** @internal The client closed (undefined) or gave up (err). */
  override connectionLost(err: SkiffError | undefined): void {
    this.finish(err)
  }

  /** @internal */
  override fail(err: SkiffError): void {
    this.endWith(err)
  }

  private endWith(err: SkiffError): void {
    if (this.phase === 'closed') return
    this.beginClose()
    for (const s of [...this.sources.values()].flat()) void s.consumer.close({ timeoutMs: 1 })
    this.finish(err)
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else if (this.listenerCount('message') > 0) this.router.report(err)
  }

  private finish(err: SkiffError | undefined): void {
    if (this.phase === 'closed') return
    this.beginClose()
    this.phase = 'closed'
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    this.router.consumers.delete(this)
    const readers = this.waiting.splice(0)
    if (err && readers.length > 0) readers.shift()!.reject(err)
    else if (err) this.endError = err
    for (const r of readers) r.resolve(DONE)
    for (const w of this.idleWakers.splice(0)) w()
  }

  private startRunner(): void {
    if (this.runner || this.listenerCount('message') === 0 || this.phase !== 'open') return
    this.runner = new HandlerRunner({
      take: () => this.takeOne(),
      listeners: () => this.listeners('message') as MessageHandler[],
      autoAck: this.auto,
      concurrency: this.handlerConcurrency,
      failed: (thrown, msg) => {
        const err = thrown instanceof Error ? thrown : new Error(String(thrown), { cause: thrown })
        if (this.listenerCount('error') > 0) this.emit('error', err, msg)
        else this.router.report(err)
      },
      finished: () => {
        if ((this.runner?.running ?? 0) === 0) for (const w of this.idleWakers.splice(0)) w()
      },
    })
    this.runner.run()
  }
}

/** The partitions each broker leads, by broker, in partition order. */
function ledByBroker(t: TopicPlacement): Map<number, number[]> {
  const led = new Map<number, number[]>()
  for (const p of t.partitions) {
    const parts = led.get(p.leader)
    if (parts) parts.push(p.partition)
    else led.set(p.leader, [p.partition])
  }
  return led
}

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = []
  const no: T[] = []
  for (const item of items) (test(item) ? yes : no).push(item)
  return [yes, no]
}
