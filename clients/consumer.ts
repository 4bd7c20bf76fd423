/**
 * Consumer: one subscription of a consumer group on a topic, read as an async
 * iterator of Messages or through 'message' handlers (consumer-handlers.ts).
 *
 * - The broker bounds the unsettled deliveries out for a subscription by
 *   `maxInFlight` (it splits the credits over the topic's partitions,
 *   ceil(maxInFlight / partitions) each, so a topic with more partitions than
 *   maxInFlight may hold one per partition). The buffer here therefore needs
 *   no limit of its own: settling messages is what lets more come, so a slow
 *   reader slows delivery instead of growing memory.
 * - Settlements are batched: every ack()/nack()/inProgress()/term() of one
 *   event-loop turn goes out as one ACK frame per kind (and per nack delay).
 * - Reconnects: when the connection is lost, messages received and not yet
 *   taken are dropped and settlements not yet sent are forgotten: the broker
 *   releases them and delivers them again. The client subscribes again on the
 *   new connection (same id, group and options; the group keeps its
 *   position) and the iterator or the handlers simply go on.
 * - The iterator ends when the consumer or the client closes. When the client
 *   gives up on the connection (or reconnecting is off), the next read throws
 *   that error once (a for-await loop sees it) and the iterator ends.
 * - close() stops taking new messages, waits (bounded) until the messages
 *   already taken are settled, sends the settlements, then leaves the group.
 *   Leaving a for-await loop early (break, return, throw) closes the consumer,
 *   as it does for Node streams; the message of the iteration that left the
 *   loop is nacked if it was not settled, since its loop body has ended.
 */
import { EventEmitter } from 'node:events'
import { type AckMode, type DeliverFrame, DeliveryView, SkiffError, encodeUnsubscribe, type StartPosition, type Subscribe } from '../protocol/index.js'
import { HandlerRunner, type MessageHandler } from './consumer-handlers.js'
import type { ConnectionSource } from './link.js'
import { Message, type SettleKind } from './message.js'
import { PendingSettlements, earlyAckAt } from './settlements.js'

/** A 'message' handler (see consumer-handlers.ts). */
export type { MessageHandler } from './consumer-handlers.js'

/** Where a group that does not exist yet starts: the first message kept, the next one published, an offset, or a time. */
export type StartFrom = 'earliest' | 'latest' | { offset: number } | { timestamp: number | Date }

/** Options of {@link Client.subscribe}. */
export interface SubscribeOptions {
  /**
   * The consumer group: every group sees every message; members of a group
   * share them. Absent: an ephemeral subscription, with a group of its own
   * that the broker never saves and removes when the subscription ends (it
   * starts at 'latest' unless `from` says otherwise; after a reconnect it
   * starts again from `from`).
   */
  group?: string
  /** Where a group that does not exist yet starts. Default 'latest'. */
  from?: StartFrom
  /** Unsettled deliveries this subscription may hold (credits). Default 500. */
  maxInFlight?: number
  /** Redeliver a message not settled within this (broker default 30 s). */
  ackTimeoutMs?: number
  /** Dead-letter after this many deliveries (broker default 5). */
  maxDeliveries?: number
  /**
   * Settle for you. Default false. Handlers: ack when the handler resolves,
   * nack when it throws. Iterator: ack a message when the loop asks for the
   * next one; leaving the loop (break or throw) nacks the current one.
   */
  autoAck?: boolean
  /**
   * 'explicit' (default): every message is acked, nacked or redelivered after
   * its ack timeout (at least once). 'none': at most once, like NATS's AckNone
   * or RabbitMQ's no-ack: the broker counts a message settled for the group
   * when it sends it, so it is never redelivered (a crash or a disconnect
   * loses what was in flight) and nothing is
   * dead-lettered; ack(), nack(), inProgress() and term() do nothing. The
   * consumer still gives the broker its credit back as each message is taken,
   * so maxInFlight bounds what waits here.
   */
  ack?: AckMode
  /** Handlers: how many messages are handled at once. Default 1 (in order). */
  concurrency?: number
}

/** Options of {@link Consumer.close}. */
export interface ConsumerCloseOptions {
  /** Longest close() waits for taken messages to be settled. Default: the client's drainTimeoutMs. */
  timeoutMs?: number
}

/** @internal Turn a `from` option into SUBSCRIBE's start and startValue; INVALID_REQUEST when it is neither. */
export function startPosition(from: StartFrom | undefined): { start: StartPosition; startValue?: number } {
  if (from === undefined || from === 'latest') return { start: 'latest' }
  if (from === 'earliest') return { start: 'earliest' }
  if (typeof from === 'object' && from !== null && 'offset' in from) {
    if (!Number.isSafeInteger(from.offset) || from.offset < 0) throw invalid(`from.offset must be a non-negative integer, got ${from.offset}`)
    return { start: 'offset', startValue: from.offset }
  }
  if (typeof from === 'object' && from !== null && 'timestamp' in from) {
    const ms = from.timestamp instanceof Date ? from.timestamp.getTime() : from.timestamp
    if (!Number.isSafeInteger(ms) || ms < 0) throw invalid(`from.timestamp must be a Date or ms since the epoch, got ${String(from.timestamp)}`)
    return { start: 'timestamp', startValue: ms }
  }
  throw invalid(`from must be 'earliest', 'latest', { offset } or { timestamp }, got ${JSON.stringify(from)}`)
}

function invalid(message: string): SkiffError {
  return new SkiffError('INVALID_REQUEST', message)
}

/** What a consumer needs from its client. @internal */
export interface ConsumerHost extends ConnectionSource {
  /** The consumer has closed: stop routing deliveries to it. */
  forget(consumer: Consumer): void
  /** An error that belongs to no call (a handler that threw, with no 'error' listener on the consumer). */
  report(err: Error): void
  readonly drainTimeoutMs: number
}

/** The SUBSCRIBE fields a consumer is (re)subscribed with. @internal */
export type Subscription = Omit<Subscribe, 'corr'>

interface Reader {
  resolve(r: IteratorResult<Message>): void
  reject(err: unknown): void
}

const DONE: IteratorResult<Message> = { done: true, value: undefined }

/**
 * A consumer's events and their listeners' arguments. `on`, `once`, `off` and
 * `emit` take only these names, so `consumer.on('mesage', ...)` or a listener
 * of the wrong shape does not compile.
 */
export interface ConsumerEvents {
  /** A message, for handler-style consumers (the listener may return a promise). */
  message: [msg: Message]
  /**
   * A handler threw or rejected (`msg` is its message), or the subscription
   * ended with an error such as UNKNOWN_TOPIC when its topic was deleted (no `msg`).
   */
  error: [err: Error, msg?: Message]
}

/**
 * A subscription: iterate it (`for await (const msg of consumer)`) or give it
 * handlers (`consumer.on('message', fn)`), one style per consumer.
 */
// Settler (message.ts) is implemented structurally: naming the internal
// interface here would leave a dangling name in the published .d.ts.
export class Consumer extends EventEmitter<ConsumerEvents> implements AsyncIterableIterator<Message> {
  /** Partitions of the topic, as the broker reported on subscribe. */
  partitions: number[] = []
  /** @internal Accepted by the broker at least once (so it is subscribed again after a reconnect). */
  established = false
  /**
   * @internal The broker no longer leads these of the subscription's
   * partitions (an unsolicited NOT_LEADER naming it): a cluster consumer
   * follows them to their new leader (cluster-consumer.ts).
   */
  onLeadershipMoved: ((partitions: number[]) => void) | undefined
  private generation = 0
  private buffer: Message[] = []
  private head = 0
  private readers: Reader[] = []
  /** Settlements recorded since the last ACK frames went out. */
  private readonly unsent = new PendingSettlements()
  private ackScheduled = false
  private state: 'open' | 'closing' | 'closed' = 'open'
  private failure: SkiffError | undefined
  private closing: Promise<void> | undefined
  /** Messages handed out on this connection and not yet acked, nacked or termed. */
  private outstanding = 0
  /** The iterator's message of the current loop iteration. */
  private current: Message | undefined
  private handlers: HandlerRunner | undefined
  /** close()/client.close() waiting for settlements; each returns true once it is done. */
  private idleWaiters: ((force: boolean) => boolean)[] = []
  /** The DELIVER reader fills this with each message in turn (deliver()). */
  private readonly view = new DeliveryView()
  /** Turns the message in the view into a Message in the buffer. */
  private readonly bufferMessage = (v: DeliveryView): void => void this.buffer.push(new Message(this, this.topic, v, this.generation))

  /** Use {@link Client.subscribe}. @internal */
  constructor(
    private readonly host: ConsumerHost,
    /** The subscription as sent to the broker (topic, group, start, maxInFlight, ...). @internal */
    readonly subscription: Subscription,
    private readonly autoAck: boolean,
    private readonly concurrency: number,
  ) {
    super()
    // 'newListener' is Node's own event, outside ConsumerEvents on purpose.
    ;(this as EventEmitter).on('newListener', (event: string | symbol) => {
      // Runs before the listener is added: start once it is there.
      if (event === 'message') queueMicrotask(() => this.startHandlers())
    })
  }

  /** The topic consumed. */
  get topic(): string {
    return this.subscription.topic
  }

  /** The consumer group. */
  get group(): string {
    return this.subscription.group
  }

  /** @internal This subscription's id on the connection. */
  get sub(): number {
    return this.subscription.sub
  }

  /** Unsettled deliveries the broker lets this subscription hold. */
  get maxInFlight(): number {
    return this.subscription.maxInFlight
  }

  /** True once close() was called or the client closed. */
  get closed(): boolean {
    return this.state !== 'open'
  }

  /** Messages received and not yet taken. */
  get buffered(): number {
    return this.buffer.length - this.head
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  /** The next message; resolves `done` once the consumer is closed. */
  next(): Promise<IteratorResult<Message>> {
    if (this.handlers) return Promise.reject(new SkiffError('INVALID_REQUEST', `${this.topic}/${this.group} has 'message' handlers; do not also iterate it`))
    if (this.autoAck && this.current && !this.current.settled) this.current.ack()
    this.current = undefined
    const msg = this.take()
    if (msg) {
      this.current = msg
      return Promise.resolve({ done: false, value: msg })
    }
    if (this.failure) {
      const err = this.failure
      this.failure = undefined
      return Promise.reject(err)
    }
    if (this.state !== 'open') return Promise.resolve(DONE)
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }))
  }

  /** Leaving a for-await loop: nack the current message if unsettled, then close. */
  async return(): Promise<IteratorResult<Message>> {
    if (this.current && !this.current.settled) this.current.nack()
    this.current = undefined
    await this.close()
    return DONE
  }

  /**
   * Stop taking messages and leave the group: waits (at most `timeoutMs`)
   * until the messages already taken are settled, sends the settlements, then
   * unsubscribes; the broker redelivers whatever is still unsettled to other
   * members.
   */
  close(opts: ConsumerCloseOptions = {}): Promise<void> {
    this.closing ??= this.doClose(opts.timeoutMs ?? this.host.drainTimeoutMs)
    return this.closing
  }

  private async doClose(timeoutMs: number): Promise<void> {
    if (this.state === 'closed') return
    this.beginClose()
    await this.idle(timeoutMs)
    if ((this.state as string) === 'closed') return
    this.flushAcks()
    const conn = this.host.current
    if (conn && this.established) {
      const corr = conn.nextCorr()
      try {
        await conn.request(corr, encodeUnsubscribe({ corr, sub: this.sub }), `UNSUBSCRIBE from ${this.topic}`)
      } catch {
        // The subscription ends with the connection anyway; nothing is lost by not hearing back.
      }
    }
    this.end(undefined)
    this.host.forget(this)
  }

  /** @internal Stop handing out messages (close() or the client closing): readers end, the buffer is dropped. */
  beginClose(): void {
    if (this.state !== 'open') return
    this.state = 'closing'
    this.dropBuffer()
    for (const r of this.readers.splice(0)) r.resolve(DONE)
  }

  /**
   * @internal Resolves after `timeoutMs` at the latest, or once no handler
   * runs and (`taken`) every message handed out is settled.
   */
  idle(timeoutMs: number, taken = true): Promise<void> {
    const check = () => (taken ? this.isIdle() : this.handlersIdle())
    if (check()) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(true), timeoutMs)
      const finish = (force: boolean) => {
        if (!force && !check()) return false
        clearTimeout(timer)
        resolve()
        return true
      }
      this.idleWaiters.push(finish)
    })
  }

  /**
   * @internal A DELIVER frame for this subscription: the connection reads it
   * with readDeliver (checked whole, so all its messages come or none).
   */
  deliver(frame: DeliverFrame): void {
    if (this.state !== 'open') return // released by UNSUBSCRIBE or the connection's end; the broker redelivers them
    // Readers wait only on an empty buffer, so buffering first keeps the order.
    frame.forEachView(this.view, this.bufferMessage)
    while (this.readers.length > 0) {
      const msg = this.take()
      if (!msg) break
      this.current = msg
      this.readers.shift()!.resolve({ done: false, value: msg })
    }
    this.handlers?.run()
  }

  /** @internal The connection is lost and the client reconnects: forget this connection's messages. */
  interrupted(): void {
    this.generation++
    this.dropBuffer()
    this.unsent.clear()
    this.outstanding = 0
    this.current = undefined
    this.wakeIdle()
  }

  /** @internal The client gave up on the connection (err) or closed (undefined). */
  connectionLost(err: SkiffError | undefined): void {
    if (this.state === 'closed') return
    this.unsent.clear() // the client flushed them before a clean close; after a loss they cannot be sent
    this.end(err)
  }

  /** @internal Stop with `err`: the next read throws it once. */
  fail(err: SkiffError): void {
    this.connectionLost(err)
  }

  /** @internal Record a settlement; sent at the end of the turn. */
  settle(msg: Message, kind: SettleKind, delayMs?: number): void {
    if (this.state === 'closed' || msg.generation !== this.generation) return
    if (kind !== 'progress') {
      this.outstanding--
      this.wakeIdle()
    }
    this.unsent.record(kind, delayMs, msg.partition, msg.offset)
    // Large windows send before the turn ends (see earlyAckAt: measured both ways).
    if (this.unsent.size >= earlyAckAt(this.maxInFlight, this.partitions.length)) return this.flushAcks()
    if (!this.ackScheduled) {
      this.ackScheduled = true
      setImmediate(() => this.flushAcks())
    }
  }

  /**
   * @internal Send the settlements collected so far as ranges, one ACK frame
   * per kind, split only to respect maxFrame and MAX_ACKS_PER_FRAME messages
   * per frame.
   */
  flushAcks(): void {
    this.ackScheduled = false
    if (this.unsent.size === 0) return
    const conn = this.host.current
    if (!conn?.isOpen) return this.unsent.clear() // unsettled messages are redelivered by the broker
    for (const frame of this.unsent.drain(this.sub, conn.maxFrame)) conn.send(frame)
  }

  /** Hand the next buffered message out (counted as taken), or undefined. */
  private take(): Message | undefined {
    if (this.head >= this.buffer.length) return undefined
    const msg = this.buffer[this.head]!
    this.buffer[this.head++] = undefined as unknown as Message
    if (this.head === this.buffer.length) {
      this.buffer = []
      this.head = 0
    }
    this.outstanding++
    // ack 'none': taken is settled; the ack only returns the credit (and makes the message's own calls no-ops).
    if (this.subscription.ack === 'none') msg.ack()
    return msg
  }

  private startHandlers(): void {
    if (this.handlers || this.listenerCount('message') === 0 || this.state === 'closed') return
    this.handlers = new HandlerRunner({
      take: () => (this.state === 'open' ? this.take() : undefined),
      listeners: () => this.listeners('message') as MessageHandler[],
      autoAck: this.autoAck,
      concurrency: this.concurrency,
      failed: (thrown, msg) => {
        // A handler may throw anything; listeners get an Error either way (the thrown value as its cause).
        const err = thrown instanceof Error ? thrown : new Error(String(thrown), { cause: thrown })
        if (this.listenerCount('error') > 0) this.emit('error', err, msg)
        else this.host.report(err)
      },
      finished: () => this.wakeIdle(),
    })
    this.handlers.run()
  }

  private handlersIdle(): boolean {
    return (this.handlers?.running ?? 0) === 0
  }

  private isIdle(): boolean {
    return this.outstanding <= 0 && this.handlersIdle()
  }

  /** Let waiters look again (`force`: they stop waiting whatever they see). */
  private wakeIdle(force = false): void {
    if (this.idleWaiters.length > 0) this.idleWaiters = this.idleWaiters.filter((w) => !w(force))
  }

  private dropBuffer(): void {
    this.buffer = []
    this.head = 0
  }

  private end(err: SkiffError | undefined): void {
    this.state = 'closed'
    this.dropBuffer()
    this.wakeIdle(true)
    const readers = this.readers.splice(0)
    if (err && readers.length > 0) {
      readers.shift()!.reject(err)
    } else if (err) {
      this.failure = err
    }
    for (const r of readers) r.resolve(DONE)
  }
}
