/**
 * Consumer: one subscription of a consumer group on a topic, read as an async
 * iterator of Messages.
 *
 * - The broker bounds the unsettled deliveries out for a subscription by
 *   `maxInFlight` (it splits the credits over the topic's partitions,
 *   ceil(maxInFlight / partitions) each, so a topic with more partitions than
 *   maxInFlight may hold one per partition). The buffer here therefore needs
 *   no limit of its own; settling messages is what lets more come.
 * - Settlements are batched: every ack()/nack()/inProgress()/term() of one
 *   event-loop turn goes out as one ACK frame per kind (and per nack delay).
 * - The iterator ends when the consumer or the client closes. When the
 *   connection is lost instead, the next read throws that error once (a
 *   for-await loop sees it) and the iterator ends; buffered, unsettled
 *   messages are dropped, since the broker redelivers them.
 * - Leaving a for-await loop early (break, return, throw) closes the consumer,
 *   as it does for Node streams.
 */
import {
  MAX_ACKS_PER_FRAME,
  SkiffError,
  decodeRecord,
  encodeAck,
  encodeUnsubscribe,
  type Deliver,
  type StartPosition,
} from '../protocol/index.js'
import { Message, type SettleKind, type Settler } from './message.js'
import type { ConnectionSource } from './producer.js'

export type StartFrom = 'earliest' | 'latest' | { offset: number } | { timestamp: number | Date }

export interface SubscribeOptions {
  /** The consumer group: every group sees every message; members of a group share them. */
  group: string
  /** Where a group that does not exist yet starts. Default 'latest'. */
  from?: StartFrom
  /** Unsettled deliveries this subscription may hold. Default 500. */
  maxInFlight?: number
  /** Redeliver a message not settled within this (broker default 30 s). */
  ackTimeoutMs?: number
  /** Dead-letter after this many deliveries (broker default 5). */
  maxDeliveries?: number
}

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

/** What a consumer needs from its client. */
export interface ConsumerHost extends ConnectionSource {
  /** The consumer has closed: stop routing deliveries to it. */
  forget(consumer: Consumer): void
}

interface PendingAcks {
  kind: SettleKind
  delayMs: number | undefined
  partitions: number[]
  offsets: number[]
}

interface Reader {
  resolve(r: IteratorResult<Message>): void
  reject(err: unknown): void
}

const DONE: IteratorResult<Message> = { done: true, value: undefined }

export class Consumer implements AsyncIterableIterator<Message>, Settler {
  /** Partitions of the topic, as the broker reported on subscribe. */
  partitions: number[] = []
  private buffer: Message[] = []
  private head = 0
  private readers: Reader[] = []
  private readonly acks = new Map<string, PendingAcks>()
  private ackScheduled = false
  private state: 'open' | 'closed' = 'open'
  private failure: SkiffError | undefined
  private closing: Promise<void> | undefined

  constructor(
    private readonly host: ConsumerHost,
    readonly topic: string,
    readonly group: string,
    /** This subscription's id on the connection. */
    readonly sub: number,
    readonly maxInFlight: number,
  ) {}

  get closed(): boolean {
    return this.state === 'closed'
  }

  /** Messages received and not yet taken by the iterator. */
  get buffered(): number {
    return this.buffer.length - this.head
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  next(): Promise<IteratorResult<Message>> {
    if (this.head < this.buffer.length) {
      const msg = this.buffer[this.head]!
      this.buffer[this.head++] = undefined as unknown as Message
      if (this.head === this.buffer.length) {
        this.buffer = []
        this.head = 0
      }
      return Promise.resolve({ done: false, value: msg })
    }
    if (this.failure) {
      const err = this.failure
      this.failure = undefined
      return Promise.reject(err)
    }
    if (this.state === 'closed') return Promise.resolve(DONE)
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }))
  }

  async return(): Promise<IteratorResult<Message>> {
    await this.close()
    return DONE
  }

  /**
   * Leave the group: settlements made so far are sent, then UNSUBSCRIBE; the
   * broker redelivers whatever is still unsettled to other members.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    if (this.state === 'closed') return
    this.flushAcks()
    this.end(undefined)
    const conn = this.host.connection
    if (conn.isOpen) {
      const corr = conn.nextCorr()
      try {
        await conn.request(corr, encodeUnsubscribe({ corr, sub: this.sub }), `UNSUBSCRIBE from ${this.topic}`)
      } catch {
        // The subscription ends with the connection anyway; nothing is lost by not hearing back.
      }
    }
    this.host.forget(this)
  }

  /** A DELIVER frame for this subscription (called by the client). */
  deliver(d: Deliver): void {
    if (this.state === 'closed') return // sent before the broker saw UNSUBSCRIBE; it redelivers them
    for (const [partition, offset, timestamp, deliveryCount, bin] of d.messages) {
      const rec = decodeRecord(bin)
      const msg = new Message(this, this.topic, partition, offset, timestamp, deliveryCount, rec.key, rec.headers, rec.payload)
      const reader = this.readers.shift()
      if (reader) reader.resolve({ done: false, value: msg })
      else this.buffer.push(msg)
    }
  }

  /** The connection is gone (err) or the client closed (undefined). */
  connectionLost(err: SkiffError | undefined): void {
    if (this.state === 'closed') return
    this.acks.clear() // the client flushed them before a clean close; after a loss they cannot be sent
    this.end(err)
  }

  settle(msg: Message, kind: SettleKind, delayMs?: number): void {
    if (this.state === 'closed') return
    const key = delayMs === undefined ? kind : `${kind}:${delayMs}`
    let pending = this.acks.get(key)
    if (!pending) {
      pending = { kind, delayMs, partitions: [], offsets: [] }
      this.acks.set(key, pending)
    }
    pending.partitions.push(msg.partition)
    pending.offsets.push(msg.offset)
    if (!this.ackScheduled) {
      this.ackScheduled = true
      setImmediate(() => this.flushAcks())
    }
  }

  /** Send the settlements collected so far, one ACK frame per kind (split only to respect maxFrame). */
  flushAcks(): void {
    this.ackScheduled = false
    if (this.acks.size === 0) return
    const conn = this.host.connection
    // 18 bytes covers a partition and an offset as MessagePack integers.
    const perFrame = Math.max(1, Math.min(MAX_ACKS_PER_FRAME, Math.floor((conn.maxFrame - 128) / 18)))
    const all = [...this.acks.values()]
    this.acks.clear()
    if (!conn.isOpen) return // unsettled messages are redelivered by the broker
    for (const a of all) {
      for (let i = 0; i < a.offsets.length; i += perFrame) {
        const frame = encodeAck({
          sub: this.sub,
          kind: a.kind,
          partitions: a.partitions.slice(i, i + perFrame),
          offsets: a.offsets.slice(i, i + perFrame),
          delayMs: a.delayMs,
        })
        conn.send(frame)
      }
    }
  }

  private end(err: SkiffError | undefined): void {
    this.state = 'closed'
    this.buffer = []
    this.head = 0
    const readers = this.readers.splice(0)
    if (err && readers.length > 0) {
      readers.shift()!.reject(err)
    } else if (err) {
      this.failure = err
    }
    for (const r of readers) r.resolve(DONE)
  }
}
