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
 * - A broker that starts leading a partition of the topic later (seen in a
 *   metadata refresh) is subscribed then. An inner subscription that fails
 *   for good (UNKNOWN_TOPIC after a delete) ends this consumer with it.
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
}

interface Waiter {
  resolve(r: IteratorResult<Message>): void
  reject(err: unknown): void
}

const DONE: IteratorResult<Message> = { done: true, value: undefined }

/** A Consumer over one subscription per broker (see the header comment). */
export class MergedConsumer extends Consumer {
  private readonly sources = new Map<number, Consumer>()
  private readonly attaching = new Set<number>()
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
    // A broker that is down now is subscribed when it is back, in the background: subscribe()
    // resolves with the others rather than waiting requestTimeoutMs for it.
    const [up, down] = partition(this.router.leaders(t), (id) => !this.router.isDown(id))
    for (const id of down) this.attach(id).catch((err: unknown) => this.attachFailed(err))
    if (up.length === 0) return
    const outcomes = await Promise.allSettled(up.map((id) => this.attach(id)))
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
    await this.attach(id)
    await this.router.learn(this.topic)
    const t = this.router.placement(this.topic)
    const first = this.sources.get(id)
    if (!t || !first) return undefined
    this.sources.delete(id)
    this.interruptedAt(id) // its messages come again on the named subscription
    await first.close({ timeoutMs: 1 })
    return t
  }

  /** @internal Metadata changed: subscribe at brokers newly leading a partition of the topic. */
  sync(): void {
    if (this.phase !== 'open') return
    const t = this.router.placement(this.topic)
    if (!t) return
    for (const id of this.router.leaders(t)) {
      if (!this.sources.has(id) && !this.attaching.has(id)) this.attach(id).catch((err: unknown) => this.attachFailed(err))
    }
  }

  /** @internal Broker `id`'s connection is lost: what it delivered and is still queued here is redelivered by it. */
  interruptedAt(id: number): void {
    if (this.queue.some((q) => q.broker === id)) this.queue = this.queue.filter((q) => q.broker !== id)
  }

  private async attach(id: number): Promise<void> {
    this.attaching.add(id)
    try {
      const client = await this.router.link(id)
      const opts: SubscribeOptions = { ...this.userOpts, autoAck: false, maxInFlight: this.shareOf(id) }
      const inner = await client.subscribeTo(this.topic, opts, undefined, this.ledBy(id))
      if (this.phase !== 'open') {
        await inner.close({ timeoutMs: 1 })
        return
      }
      this.sources.set(id, inner)
      this.partitions = this.router.placement(this.topic)?.partitions.map((p) => p.partition) ?? inner.partitions
      void this.pump(id, inner)
    } finally {
      this.attaching.delete(id)
    }
  }

  private attachFailed(err: unknown): void {
    if (err instanceof SkiffError && err.retriable) return // tried again at the next refresh
    this.endWith(err instanceof SkiffError ? err : new SkiffError('INTERNAL', String(err), { cause: err }))
  }

  /**
   * The partitions broker `id` leads, named in its SUBSCRIBE: a broker that
   * has just restarted may not know yet that it leads them, and a
   * subscription without names would then cover none; with names it is
   * refused (retriable) and subscribed again until the broker serves them.
   * Undefined (the broker's own partitions) when metadata has no placement.
   */
  private ledBy(id: number): number[] | undefined {
    const t = this.router.placement(this.topic)
    const led = t?.partitions.filter((p) => p.leader === id).map((p) => p.partition)
    return led && led.length > 0 ? led : undefined
  }

  /** maxInFlight split by the broker's share of the topic's partitions. */
  private shareOf(id: number): number {
    const t = this.router.placement(this.topic)
    const total = this.subscription.maxInFlight
    if (!t || t.partitions.length === 0) return total
    const led = t.partitions.filter((p) => p.leader === id).length
    return Math.max(1, Math.round((total * led) / t.partitions.length))
  }

  private async pump(id: number, inner: Consumer): Promise<void> {
    try {
      for (;;) {
        const r = await inner.next()
        if (r.done) break
        // A subscription replaced meanwhile: its broker redelivers what it had sent.
        if (this.sources.get(id) === inner) this.push(r.value, id)
      }
    } catch (err) {
      this.endWith(err instanceof SkiffError ? err : new SkiffError('INTERNAL', String(err), { cause: err }))
    } finally {
      if (this.sources.get(id) === inner) this.sources.delete(id)
    }
  }

  private push(msg: Message, broker: number): void {
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
    this.queue.push({ msg, broker })
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
    await Promise.all([...this.sources.values()].map((c) => c.close({ timeoutMs })))
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
    for (const c of this.sources.values()) void c.close({ timeoutMs: 1 })
    this.finish(err)
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else if (this.listenerCount('message') > 0) this.router.report(err)
  }

  private finish(err: SkiffError | undefined): void {
    if (this.phase === 'closed') return
    this.beginClose()
    this.phase = 'closed'
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

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = []
  const no: T[] = []
  for (const item of items) (test(item) ? yes : no).push(item)
  return [yes, no]
}
