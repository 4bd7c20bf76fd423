/**
 * A delivered message. Settling is batched by its consumer: ack(), nack() and
 * term() only record the decision; the consumer sends one ACK frame per kind
 * at the end of the event-loop turn.
 *
 * Decision: a message is settled once. The first ack/nack/term wins; later
 * calls (and inProgress() after settling) are ignored and return false, so a
 * handler that acks in a `finally` after a nack does not undo the nack.
 */
import type { Headers } from '../protocol/index.js'
import { decodePayload } from './payload.js'

export type SettleKind = 'ack' | 'nack' | 'progress' | 'term'

/** What a message needs from its consumer: the one place its decisions go. */
export interface Settler {
  settle(msg: Message, kind: SettleKind, delayMs?: number): void
}

export interface NackOptions {
  /** Redeliver no sooner than this many milliseconds from now. */
  delayMs?: number
}

export class Message {
  private done = false

  constructor(
    private readonly settler: Settler,
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    /** Broker append time, ms since the epoch. */
    readonly timestamp: number,
    /** 1 on the first delivery, 2 on the first redelivery, ... */
    readonly deliveryCount: number,
    readonly key: string | undefined,
    readonly headers: Headers,
    readonly payload: Buffer,
  ) {}

  /** The payload by its content-type: MessagePack -> value, JSON -> parsed, text -> string, else the bytes. */
  decode<T = unknown>(): T {
    return decodePayload(this.payload, this.headers) as T
  }

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
