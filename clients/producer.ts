/**
 * Producer: publish() with confirm, send() fire-and-forget. Batching, the
 * idempotent re-send after a reconnect and the write order live in the
 * outbox (outbox.ts); this file admits calls, bounds them, times them out
 * and settles them.
 *
 * Flow control, so nothing buffers without bound:
 * - publish(): at most `maxInFlight` records are admitted and unconfirmed;
 *   further publish() calls wait (their promise stays pending) in FIFO order,
 *   also while the client is reconnecting.
 * - send() has no confirm to wait on, so it is bounded by bytes instead:
 *   when `maxBufferedBytes` are already waiting to be written, it drops the
 *   record and returns false (`whenFull: 'drop'`, the default, counted in
 *   `stats.dropped.full`), or returns a promise that resolves once there is
 *   room (`whenFull: 'wait'`).
 *
 * Timeouts: every call gets a deadline of requestTimeoutMs from the moment
 * it is made, counting the time it waits for a slot or for a reconnect. A
 * publish not confirmed by then rejects with TIMEOUT; its outcome is unknown
 * (it may still be stored). A send not written by then is dropped
 * (`stats.dropped.timeout`). One timer serves all calls: deadlines grow in
 * call order, so it only ever looks at the oldest.
 *
 * Idempotence: each producer picks a random id; each confirmed batch gets the
 * next sequence number. After a reconnect the unconfirmed batches are re-sent
 * verbatim and the broker confirms those it already stored with their
 * original offsets, so a publish that resolves is stored exactly once.
 *
 * Cost per call, the hot path of every producer: a record is measured, then
 * written straight into its open batch's buffer (no Buffer of its own unless
 * the call has to wait for a slot or for room, because the caller may reuse
 * its payload buffer once the call returns); one Entry per call, kept in call
 * order in a CallQueue (calls.ts) for deadlines and flush(); a topic name is
 * checked once, not on every call.
 */
import { RecordWriter, SkiffError, checkName, type Headers } from '../protocol/index.js'
import type { ConnectionSource } from './link.js'
import { CallQueue } from './calls.js'
import { Outbox, type Batch, type Entry, type OutboxOwner, type PublishResult } from './outbox.js'
import { encodePayload } from './payload.js'

export { MAX_BATCH_BYTES, MAX_BATCH_RECORDS, type PublishResult } from './outbox.js'

/** What send() does when `maxBufferedBytes` are already queued: drop the record, or wait for room. */
export type WhenFull = 'drop' | 'wait'

/** Options of {@link Client.producer}. */
export interface ProducerOptions<M extends WhenFull = WhenFull> {
  /** Unconfirmed records allowed before publish() waits. Default 1000. */
  maxInFlight?: number
  /** Bytes send() may queue (while the socket is congested or the client reconnects) before it is full. Default 8 MiB. */
  maxBufferedBytes?: number
  /** send() when full: 'drop' (default) returns false; 'wait' makes send() return a promise that resolves when there is room. */
  whenFull?: M
}

/** Options of one publish()/send(). */
export interface PublishOptions {
  /** Picks the partition (stable hash); records with one key stay in order. */
  key?: string
  /** Message headers (string values). A `content-type` set here wins over the one the payload implies. */
  headers?: Headers
}

/** What send() returns: a boolean with `whenFull: 'drop'`, a promise of one with `whenFull: 'wait'`. */
export type SendResult<M extends WhenFull> = M extends 'wait' ? Promise<boolean> : boolean

/** Counters over the producer's life. */
export interface ProducerStats {
  /** publish() calls confirmed by the broker. */
  confirmed: number
  /** publish() calls rejected (any error, TIMEOUT included). */
  failed: number
  /** send() records written to the connection. */
  sent: number
  /** send() records dropped, by reason: `full` (maxBufferedBytes reached), `timeout` (not written within requestTimeoutMs), `closed` (the client closed). */
  dropped: { full: number; timeout: number; closed: number }
  /** Confirmed batches re-sent after a reconnect. */
  resentBatches: number
}

interface Waiter {
  entry: Entry
  record: Buffer
  /** For send() in 'wait' mode: told whether the record was queued (true) or dropped. */
  admitted?(ok: boolean): void
}

/** Topic names that passed checkName, so a publish does not run its RegExp each time (bounded: cleared when full). */
const checkedTopics = new Set<string>()
const CHECKED_TOPICS_MAX = 1024

function checkTopic(topic: unknown): void {
  if (typeof topic === 'string' && checkedTopics.has(topic)) return
  checkName('topic', topic)
  if (checkedTopics.size >= CHECKED_TOPICS_MAX) checkedTopics.clear()
  checkedTopics.add(topic as string)
}

/** The entry whose promise is being made: bindEntry is handed to `new Promise` without a closure per call. */
let binding: Entry | undefined
function bindEntry(resolve: (r: PublishResult) => void, reject: (err: unknown) => void): void {
  binding!.resolve = resolve
  binding!.reject = reject
}

/**
 * Publishes records, batched, bounded and idempotent (see the header comment).
 * Made by {@link Client.producer}; many producers may share a client.
 */
export class Producer<M extends WhenFull = 'drop'> {
  /** Unconfirmed records allowed before publish() waits. */
  readonly maxInFlight: number
  /** Bytes send() may queue before it is full. */
  readonly maxBufferedBytes: number
  /** What send() does when full. */
  readonly whenFull: WhenFull
  private readonly outbox: Outbox
  private waiters: Waiter[] = []
  private sendWaiters: Waiter[] = []
  private readonly calls = new CallQueue()
  /** The record of the call being made, measured and not yet written. */
  private readonly record = new RecordWriter()
  /** The topic of the last call, known to be a good name. */
  private lastTopic: string | undefined
  private inFlight = 0
  private lastDeadline = 0
  private closedWith: SkiffError | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  private readonly counters = { confirmed: 0, failed: 0, sent: 0, full: 0, timeout: 0, closed: 0 }

  /**
   * Use {@link Client.producer}. @internal `routing`: in a cluster, where
   * each batch goes (outbox.ts, partition-routes.ts).
   */
  constructor(
    private readonly source: ConnectionSource,
    opts: ProducerOptions<M> = {},
    routing?: Pick<OutboxOwner, 'route' | 'held' | 'stale'>,
  ) {
    this.maxInFlight = positiveInt('maxInFlight', opts.maxInFlight ?? 1000)
    this.maxBufferedBytes = positiveInt('maxBufferedBytes', opts.maxBufferedBytes ?? 8 * 1024 * 1024)
    const whenFull = opts.whenFull ?? 'drop'
    if (whenFull !== 'drop' && whenFull !== 'wait') throw new SkiffError('INVALID_REQUEST', `producer whenFull must be 'drop' or 'wait', got ${JSON.stringify(whenFull)}`)
    this.whenFull = whenFull
    this.outbox = new Outbox({
      source,
      done: (batch, err, results) => this.batchDone(batch, err, results),
      leftOut: (entries) => this.freeSlots(entries),
      bytesFreed: () => this.admitSends(),
      ...(routing ? { route: routing.route, held: routing.held, stale: routing.stale } : {}),
    })
  }

  /** Records admitted and not yet confirmed or rejected. */
  get unconfirmed(): number {
    return this.inFlight
  }

  /** This producer's idempotence id (random, below 2^48), sent with every confirmed batch. */
  get producerId(): number {
    return this.outbox.producerId
  }

  /** A snapshot of the producer's counters. */
  get stats(): ProducerStats {
    const c = this.counters
    return { confirmed: c.confirmed, failed: c.failed, sent: c.sent, dropped: { full: c.full, timeout: c.timeout, closed: c.closed }, resentBatches: this.outbox.resent }
  }

  /**
   * Publish with confirm: resolves with the record's partition and offset once
   * it is durable on the broker. Waits while `maxInFlight` records are
   * unconfirmed or while the client reconnects; rejects with TIMEOUT when no
   * confirm came within requestTimeoutMs of this call.
   */
  publish(topic: string, payload: unknown, opts?: PublishOptions): Promise<PublishResult> {
    return this.publishAt(topic, undefined, payload, opts, undefined)
  }

  /** @internal publish() to `partition` (undefined: the broker picks), giving up at `deadline` (default requestTimeoutMs from now). */
  protected publishAt(topic: string, partition: number | undefined, payload: unknown, opts: PublishOptions | undefined, deadline: number | undefined): Promise<PublishResult> {
    try {
      this.measure(topic, payload, opts)
    } catch (err) {
      return Promise.reject(err)
    }
    const entry = this.newEntry(topic, partition, deadline)
    binding = entry
    const promise = new Promise<PublishResult>(bindEntry)
    binding = undefined
    if (this.waiters.length === 0 && this.inFlight < this.maxInFlight) this.admit(entry, this.record, true)
    else this.waiters.push({ entry, record: this.record.toBuffer() })
    return promise
  }

  /**
   * Fire-and-forget (at-most-once): no confirm, nothing re-sent. With
   * `whenFull: 'drop'` it returns false when the record was dropped (see
   * `stats.dropped`); with `whenFull: 'wait'` it returns a promise of that.
   * Throws only for bad input (a bad topic name, an unencodable value).
   */
  send(topic: string, payload: unknown, opts?: PublishOptions): SendResult<M> {
    return this.sendAt(topic, undefined, payload, opts)
  }

  /** @internal send() to `partition` (undefined: the broker picks). */
  protected sendAt(topic: string, partition: number | undefined, payload: unknown, opts: PublishOptions | undefined): SendResult<M> {
    if (this.closedWith) {
      this.counters.closed++
      return this.sendResult(false)
    }
    const size = this.measure(topic, payload, opts)
    if (this.sendWaiters.length === 0 && this.hasRoom(size)) {
      this.admit(this.newEntry(topic, partition, undefined), this.record, false)
      return this.sendResult(true)
    }
    if (this.whenFull === 'drop') {
      this.counters.full++
      return this.sendResult(false)
    }
    const entry = this.newEntry(topic, partition, undefined)
    const record = this.record.toBuffer()
    return new Promise<boolean>((admitted) => this.sendWaiters.push({ entry, record, admitted })) as SendResult<M>
  }

  /** Resolves when every publish()/send() issued before this call is confirmed, rejected, written or dropped. */
  flush(): Promise<void> {
    this.outbox.closeAll()
    if (this.calls.unsettled === 0) return Promise.resolve()
    return new Promise((resolve) => this.calls.barrier(resolve))
  }

  /** @internal The connection is lost; a reconnect follows. */
  interrupted(): void {
    this.outbox.interrupted()
  }

  /** @internal A connection is open: re-send, then write what waits. */
  resumed(): void {
    this.outbox.resume()
  }

  /** @internal In a cluster: routes may have changed, send the held batches again. */
  retryHeld(): void {
    this.outbox.retry()
  }

  /** @internal In a cluster: how long the oldest batch in flight has waited for its answer. */
  oldestInFlightMs(now: number): number {
    return this.outbox.oldestInFlightMs(now)
  }

  /** @internal In a cluster: the batch (topic, confirm, partition) is filling now, if any (keyless records stick to it). */
  protected openBatch(topic: string, confirm: boolean, partition: number): object | undefined {
    return this.outbox.openBatch(topic, confirm, partition)
  }

  /** @internal In a cluster: batches waiting for a route. */
  get heldBatches(): number {
    return this.outbox.heldBatches
  }

  /** @internal No connection will come again: everything not yet done fails with `err`; later calls fail at once. */
  connectionLost(err: SkiffError): void {
    if (this.closedWith) return
    this.closedWith = err
    if (this.sweepTimer) clearTimeout(this.sweepTimer)
    this.sweepTimer = undefined
    for (const b of this.outbox.takeAll()) for (const e of b.entries) e.holdsSlot = false
    this.inFlight = 0
    for (const w of [...this.waiters, ...this.sendWaiters]) w.admitted?.(false)
    this.waiters = []
    this.sendWaiters = []
    for (const e of this.calls.all()) this.settle(e, err, undefined, 'closed')
    this.calls.releaseBarriers()
  }

  private sendResult(ok: boolean): SendResult<M> {
    return (this.whenFull === 'wait' ? Promise.resolve(ok) : ok) as SendResult<M>
  }

  /** Check a call's input and measure its record into `this.record`; returns the record's bytes. */
  private measure(topic: string, payload: unknown, opts: PublishOptions | undefined): number {
    if (this.closedWith) throw new SkiffError('CONNECTION_CLOSED', `cannot publish: ${this.closedWith.message}`, { cause: this.closedWith })
    if (topic !== this.lastTopic) {
      checkTopic(topic)
      this.lastTopic = topic
    }
    let size: number
    if (payload instanceof Uint8Array) size = this.record.measure(opts?.key, opts?.headers, payload)
    else {
      const { bytes, headers } = encodePayload(payload, opts?.headers)
      size = this.record.measure(opts?.key, headers, bytes)
    }
    const limit = this.outbox.batchBytesLimit
    if (size > limit) {
      throw new SkiffError('FRAME_TOO_LARGE', `a record of ${size} bytes does not fit in a frame (limit ${limit} bytes for records)`, {
        details: { topic, bytes: size, limit },
      })
    }
    return size
  }

  private newEntry(topic: string, partition: number | undefined, deadline: number | undefined): Entry {
    const entry: Entry = {
      topic,
      partition,
      // Deadlines must not decrease in call order (calls.ts): one given earlier (a call that waited
      // for its topic's placement) is raised to the newest.
      deadline: (this.lastDeadline = Math.max(this.lastDeadline, deadline ?? Date.now() + this.source.requestTimeoutMs)),
      serial: this.calls.nextSerial(),
      settled: false,
      holdsSlot: false,
      batch: undefined,
      resolve: undefined,
      reject: undefined,
    }
    this.calls.add(entry)
    this.armSweep()
    return entry
  }

  private hasRoom(bytes: number): boolean {
    const queued = this.outbox.queuedBytes
    return queued === 0 || queued + bytes <= this.maxBufferedBytes
  }

  private admit(entry: Entry, record: RecordWriter | Buffer, confirm: boolean): void {
    if (confirm) {
      this.inFlight++
      entry.holdsSlot = true
    }
    this.outbox.add(entry.topic, confirm, record, entry)
  }

  private admitPublishes(): void {
    if (this.closedWith) return
    // One splice per call, not a shift per waiter: shift is O(queue) and the
    // queue can hold every record a tight publish loop issued.
    const free = Math.min(this.waiters.length, this.maxInFlight - this.inFlight)
    if (free > 0) for (const w of this.waiters.splice(0, free)) this.admit(w.entry, w.record, true)
  }

  private admitSends(): void {
    let n = 0
    while (n < this.sendWaiters.length && this.hasRoom(this.sendWaiters[n]!.record.length)) {
      const w = this.sendWaiters[n++]!
      this.admit(w.entry, w.record, false)
      w.admitted!(true)
    }
    if (n > 0) this.sendWaiters.splice(0, n)
  }

  private batchDone(batch: Batch, err?: unknown, results?: PublishResult[]): void {
    if (batch.confirm && err === undefined && !results) err = new SkiffError('TIMEOUT', `publish to ${batch.topic} abandoned`)
    const entries = batch.entries
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!
      if (!e.settled) this.settle(e, err, results?.[i], 'sent')
    }
    this.freeSlots(entries)
    this.calls.releaseBarriers()
  }

  private freeSlots(entries: Entry[]): void {
    let freed = 0
    for (const e of entries) {
      if (!e.holdsSlot) continue
      e.holdsSlot = false
      freed++
    }
    this.inFlight -= freed
    if (freed > 0) this.admitPublishes()
  }

  /** Settle one call: publish resolves/rejects; send counts as sent or dropped (`sendOutcome`). */
  private settle(e: Entry, err: unknown, result: PublishResult | undefined, sendOutcome: 'sent' | 'timeout' | 'closed'): void {
    if (e.settled) return
    e.settled = true
    this.calls.settledOne()
    if (e.resolve) {
      if (err === undefined && result) {
        this.counters.confirmed++
        e.resolve(result)
      } else {
        this.counters.failed++
        e.reject!(err ?? new SkiffError('INTERNAL', `publish to ${e.topic} got no result`))
      }
    } else {
      this.counters[sendOutcome]++
    }
  }

  private armSweep(): void {
    if (this.sweepTimer || this.closedWith) return
    const oldest = this.calls.oldest()
    if (!oldest) return
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(0, oldest.deadline - Date.now()))
    // Pending work keeps the process alive through the socket or the reconnect timer, not through this.
    this.sweepTimer.unref()
  }

  /** Give up on every call whose deadline has passed. */
  private sweep(): void {
    this.sweepTimer = undefined
    const expired = this.calls.expired(Date.now())
    if (expired.length > 0) {
      const batches = new Set<Batch>()
      for (const e of expired) {
        this.settle(e, e.resolve ? publishTimeout(e, this.source.requestTimeoutMs, this.source) : undefined, undefined, 'timeout')
        if (e.batch) batches.add(e.batch)
      }
      const waitersGone = this.waiters.some((w) => w.entry.settled)
      if (waitersGone) this.waiters = this.waiters.filter((w) => !w.entry.settled)
      if (this.sendWaiters.some((w) => w.entry.settled)) {
        this.sendWaiters = this.sendWaiters.filter((w) => {
          if (!w.entry.settled) return true
          w.admitted!(false)
          return false
        })
        this.admitSends()
      }
      for (const b of batches) if (b.entries.every((e) => e.settled)) this.outbox.abandon(b)
      if (waitersGone) this.admitPublishes()
      this.calls.releaseBarriers()
    }
    this.armSweep()
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new SkiffError('INVALID_REQUEST', `producer ${name} must be a positive integer, got ${v}`)
  return v
}

/** The error a publish gets when its deadline passes. */
function publishTimeout(entry: Entry, timeoutMs: number, source: ConnectionSource): SkiffError {
  const waiting = source.waitLabel ?? 'not connected'
  const offline = source.current ? '' : source.lastError ? ` (${waiting}: ${source.lastError.message})` : source.waitLabel ? '' : ' (not connected)'
  return new SkiffError('TIMEOUT', `publish to ${entry.topic} not confirmed within ${timeoutMs} ms${offline}`, source.current || !source.lastError ? {} : { cause: source.lastError })
}
