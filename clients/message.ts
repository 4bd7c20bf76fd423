/**
 * A delivered message. Settling is batched by its consumer: ack(), nack() and
 * term() only record the decision; the consumer sends one ACK frame per kind
 * at the end of the event-loop turn.
 *
 * Decision: a message is settled once. The first ack/nack/term wins; later
 * calls (and inProgress() after settling) are ignored and return false, so a
 * handler that acks in a `finally` after a nack does not undo the nack.
 *
 * Decision: a message belongs to the connection it came on. When the client
 * reconnects, the broker releases the old connection's unsettled messages
 * and delivers them again, so settling a message from before the reconnect
 * is not sent (the call still returns true: the decision was taken, the
 * redelivered copy gets its own).
 */
import type { DeliveryView, Headers } from '../protocol/index.js'
import { decodePayload } from './payload.js'

/** The settlements of a message, as sent in ACK frames. */
export type SettleKind = 'ack' | 'nack' | 'progress' | 'term'

/** What a message needs from its consumer: the one place its decisions go. @internal */
export interface Settler {
  settle(msg: Message, kind: SettleKind, delayMs?: number): void
}

/** Options of {@link Message.nack}. */
export interface NackOptions {
  /** Redeliver no sooner than this many milliseconds from now. */
  delayMs?: number
}

/**
 * A delivered message: where it is from, what it carries, and how to settle it.
 *
 * Decision: the key is decoded from the frame's bytes on first access (most
 * handlers never read it), and a record without headers gets its empty
 * headers object on first access too. Headers that are present are decoded
 * when the frame is read: a DELIVER with malformed headers is refused whole,
 * as before, rather than failing later in a handler.
 */
export class Message {
  private done = false
  private keyText: string | undefined = undefined
  private headerMap: Headers | undefined

  /** The topic it was published to. */
  readonly topic: string
  /** The partition of the topic that holds it. */
  readonly partition: number
  /** Its offset in that partition. */
  readonly offset: number
  /** Broker append time, ms since the epoch. */
  readonly timestamp: number
  /** 1 on the first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number
  /** The payload bytes as published. */
  readonly payload: Buffer
  /** Bytes holding the key, in [keyStart, keyEnd) (empty: no key). */
  private readonly keyBytes: Buffer
  private readonly keyStart: number
  private readonly keyEnd: number

  /**
   * Made by the consumer from the frame's view of one delivered message,
   * whose fields it copies (the view is filled again for the next message).
   * @internal
   */
  constructor(
    private readonly settler: Settler,
    topic: string,
    d: DeliveryView,
    /** Which connection of its consumer it came on. @internal */
    readonly generation = 0,
  ) {
    this.topic = topic
    this.partition = d.partition
    this.offset = d.offset
    this.timestamp = d.timestamp
    this.deliveryCount = d.deliveryCount
    this.payload = d.bytes.subarray(d.payloadStart, d.payloadEnd)
    this.keyBytes = d.bytes
    this.keyStart = d.keyStart
    this.keyEnd = d.keyEnd
    this.headerMap = d.headers
  }

  /** The key it was published with, if any. */
  get key(): string | undefined {
    if (this.keyEnd === this.keyStart) return undefined
    return (this.keyText ??= this.keyBytes.toString('utf8', this.keyStart, this.keyEnd))
  }

  /** Its headers (string values); `content-type` tells decode() how to read the payload. */
  get headers(): Headers {
    return (this.headerMap ??= {})
  }

  /** The payload by its content-type: MessagePack -> value, JSON -> parsed, text -> string, else the bytes. */
  decode<T = unknown>(): T {
    return decodePayload(this.payload, this.headers) as T
  }

  /** True once ack(), nack() or term() was called. */
  get settled(): boolean {
    return this.done
  }

  /** Done with it: never redeliver to this group. */
  ack(): boolean {
    return this.final('ack')
  }

  /** Not done: redeliver (to any member of the group) after `delayMs`. */
  nack(opts: NackOptions = {}): boolean {
    const delayMs = opts.delayMs === undefined ? undefined : Math.max(0, Math.floor(opts.delayMs))
    return this.final('nack', delayMs)
  }

  /** Still working on it: restart the ack timeout. */
  inProgress(): boolean {
    if (this.done) return false
    this.settler.settle(this, 'progress')
    return true
  }

  /** Give up on it: dead-letter it now to `<topic>.dlq`. */
  term(): boolean {
    return this.final('term')
  }

  private final(kind: 'ack' | 'nack' | 'term', delayMs?: number): boolean {
    if (this.done) return false
    this.done = true
    this.settler.settle(this, kind, delayMs)
    return true
  }
}
