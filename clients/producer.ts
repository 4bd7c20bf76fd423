/**
 * Producer: publishes records, batched.
 *
 * Every publish()/send() made in one event-loop turn for one topic goes out as
 * one PUBLISH frame: records collect in an open batch per (topic, confirm) and
 * the batches are written on setImmediate, or at once when a batch reaches
 * MAX_BATCH_RECORDS or MAX_BATCH_BYTES (or what the broker's maxFrame allows).
 * Batches are written in the order they were closed, so records of one topic
 * reach the broker in publish order.
 *
 * Flow control, so nothing buffers without bound:
 * - publish(): at most `maxInFlight` records are admitted and unconfirmed;
 *   further publish() calls wait (their promise stays pending) in FIFO order.
 * - Writes wait for the socket's 'drain' when it is past its high-water mark;
 *   closed batches queue meanwhile, bounded by the rule above.
 * - send() (fire-and-forget, at-most-once) has no confirm to wait on, so it is
 *   bounded by bytes instead: when `maxBufferedBytes` are already waiting for
 *   the socket it drops the record and returns false, the way a UDP socket
 *   would. It throws only for bad input (a bad topic name, an unencodable value).
 */
import { SkiffError, checkName, decodePublishAck, encodePublish, encodeRecord, expandPublishAck, type Headers } from '../protocol/index.js'
import type { Connection } from './connection.js'
import { encodePayload } from './payload.js'

export const MAX_BATCH_RECORDS = 1000
export const MAX_BATCH_BYTES = 256 * 1024
/** Room for the PUBLISH fields around the records (corr, a 249-character topic, count, ...). */
const PUBLISH_OVERHEAD = 512

export interface ProducerOptions {
  /** Unconfirmed records allowed before publish() waits. Default 1000. */
  maxInFlight?: number
  /** Bytes send() may queue while the socket is congested before it drops. Default 8 MiB. */
  maxBufferedBytes?: number
}

export interface PublishOptions {
  /** Picks the partition (stable hash); records with one key stay in order. */
  key?: string
  headers?: Headers
}

export interface PublishResult {
  partition: number
  offset: number
}

/** Where the producer finds the live connection (a reconnecting client may swap it). */
export interface ConnectionSource {
  readonly connection: Connection
}

interface Entry {
  resolve?(r: PublishResult): void
  reject?(err: unknown): void
  /** Admitted with confirm: holds one of the maxInFlight slots. */
  holdsSlot?: boolean
}

interface Waiter {
  entry: Entry
  admit(): void
}

interface Batch {
  topic: string
  confirm: boolean
  parts: Buffer[]
  bytes: number
  entries: Entry[]
}

interface Barrier {
  waiting: Set<Entry>
  resolve(): void
}

export class Producer {
  readonly maxInFlight: number
  readonly maxBufferedBytes: number
  private readonly open = new Map<string, Batch>()
  private readonly ready: Batch[] = []
  private readonly waiters: Waiter[] = []
  private readonly unsettled = new Set<Entry>()
  private barriers: Barrier[] = []
  private inFlight = 0
  private queuedBytes = 0
  private scheduled = false
  private pumping = false
  private closedWith: SkiffError | undefined

  constructor(
    private readonly source: ConnectionSource,
    opts: ProducerOptions = {},
  ) {
    this.maxInFlight = positiveInt('maxInFlight', opts.maxInFlight ?? 1000)
    this.maxBufferedBytes = positiveInt('maxBufferedBytes', opts.maxBufferedBytes ?? 8 * 1024 * 1024)
  }

  /** Records admitted and not yet confirmed or rejected. */
  get unconfirmed(): number {
    return this.inFlight
  }

  /** Publish with confirm: resolves once the record is durable on the broker. */
  publish(topic: string, payload: unknown, opts: PublishOptions = {}): Promise<PublishResult> {
    let record: Buffer
    try {
      record = this.encode(topic, payload, opts)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise<PublishResult>((resolve, reject) => {
      const entry: Entry = { resolve, reject }
      this.unsettled.add(entry)
      if (this.waiters.length === 0 && this.inFlight < this.maxInFlight) this.admit(topic, true, record, entry)
      else this.waiters.push({ entry, admit: () => this.admit(topic, true, record, entry) })
    })
  }

  /** Fire-and-forget (at-most-once). Returns false when the record was dropped because too much is queued. */
  send(topic: string, payload: unknown, opts: PublishOptions = {}): boolean {
    if (this.closedWith) return false // at-most-once: a closed connection loses it, like any other drop
    const record = this.encode(topic, payload, opts)
    if (this.queuedBytes + record.length > this.maxBufferedBytes) return false
    const entry: Entry = {}
    this.unsettled.add(entry)
    this.admit(topic, false, record, entry)
    return true
  }

  /** Resolves when every publish()/send() issued before this call is confirmed, rejected or (send) written. */
  flush(): Promise<void> {
    this.closeAllBatches()
    if (this.unsettled.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.barriers.push({ waiting: new Set(this.unsettled), resolve }))
  }

  /** The connection is gone: everything not yet confirmed fails with `err`; later calls fail at once. */
  connectionLost(err: SkiffError): void {
    this.closedWith = err
    const entries: Entry[] = []
    for (const b of [...this.open.values(), ...this.ready]) entries.push(...b.entries)
    this.open.clear()
    this.ready.length = 0
    this.queuedBytes = 0
    for (const w of this.waiters.splice(0)) entries.push(w.entry)
    this.settle(entries, err)
  }

  private encode(topic: string, payload: unknown, opts: PublishOptions): Buffer {
    if (this.closedWith) throw new SkiffError('CONNECTION_CLOSED', `cannot publish: ${this.closedWith.message}`, { cause: this.closedWith })
    checkName('topic', topic)
    const { bytes, headers } = encodePayload(payload, opts.headers)
    const record = encodeRecord({ key: opts.key, headers, payload: bytes })
    const limit = this.batchBytesLimit()
    if (record.length > limit) {
      throw new SkiffError('FRAME_TOO_LARGE', `a record of ${record.length} bytes does not fit in a frame (limit ${limit} bytes for records)`, {
        details: { topic, bytes: record.length, limit },
      })
    }
    return record
  }

  private batchBytesLimit(): number {
    return Math.min(MAX_BATCH_BYTES, this.source.connection.maxFrame - PUBLISH_OVERHEAD)
  }

  private admit(topic: string, confirm: boolean, record: Buffer, entry: Entry): void {
    if (confirm) {
      this.inFlight++
      entry.holdsSlot = true
    }
    const key = (confirm ? 'c:' : 'f:') + topic
    let batch = this.open.get(key)
    if (batch && batch.bytes + record.length > this.batchBytesLimit()) {
      this.closeBatch(key, batch)
      batch = undefined
    }
    if (!batch) {
      batch = { topic, confirm, parts: [], bytes: 0, entries: [] }
      this.open.set(key, batch)
    }
    batch.parts.push(record)
    batch.bytes += record.length
    batch.entries.push(entry)
    this.queuedBytes += record.length
    if (batch.entries.length >= MAX_BATCH_RECORDS || batch.bytes >= this.batchBytesLimit()) this.closeBatch(key, batch)
    else this.schedule()
  }

  private schedule(): void {
    if (this.scheduled || this.closedWith) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.closeAllBatches()
    })
  }

  private closeAllBatches(): void {
    for (const [key, batch] of [...this.open]) this.closeBatch(key, batch)
  }

  private closeBatch(key: string, batch: Batch): void {
    if (this.closedWith) return
    this.open.delete(key)
    this.ready.push(batch)
    void this.pump()
  }

  /** Write ready batches in order, waiting for 'drain' when the socket is congested. */
  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.ready.length > 0) {
        const conn = this.source.connection
        if (conn.needsDrain && conn.isOpen) {
          await conn.drained()
          continue
        }
        const batch = this.ready.shift()!
        this.queuedBytes -= batch.bytes
        this.write(conn, batch)
      }
    } finally {
      this.pumping = false
    }
  }

  private write(conn: Connection, batch: Batch): void {
    const corr = conn.nextCorr()
    const records = batch.parts.length === 1 ? batch.parts[0]! : Buffer.concat(batch.parts, batch.bytes)
    const frame = encodePublish({ corr, topic: batch.topic, count: batch.entries.length, records, confirm: batch.confirm })
    if (!batch.confirm) {
      try {
        conn.send(frame)
      } catch {
        // At-most-once: a fire-and-forget record that cannot be written is lost.
      }
      this.settle(batch.entries)
      return
    }
    conn.request(corr, frame, `PUBLISH to ${batch.topic}`).then(
      (answer) => {
        let results: PublishResult[]
        try {
          results = expandPublishAck(decodePublishAck(answer.body), batch.entries.length)
        } catch (err) {
          return this.settle(batch.entries, err)
        }
        this.settle(batch.entries, undefined, results)
      },
      (err) => this.settle(batch.entries, err),
    )
  }

  /** Resolve (with results[i]) or reject (with err) entries, free their slots, wake waiters and barriers. */
  private settle(entries: Entry[], err?: unknown, results?: PublishResult[]): void {
    let confirmed = 0
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!
      this.unsettled.delete(e)
      if (e.holdsSlot) confirmed++
      if (e.resolve) {
        if (err !== undefined || !results) e.reject!(err)
        else e.resolve(results[i]!)
      }
    }
    this.inFlight -= confirmed
    if (!this.closedWith) {
      // One splice per settle, not a shift per waiter: shift is O(queue) and the
      // queue can hold every record a tight publish loop issued.
      const free = Math.min(this.waiters.length, this.maxInFlight - this.inFlight)
      if (free > 0) for (const w of this.waiters.splice(0, free)) w.admit()
    }
    if (this.barriers.length > 0) {
      this.barriers = this.barriers.filter((b) => {
        for (const e of entries) b.waiting.delete(e)
        if (b.waiting.size > 0) return true
        b.resolve()
        return false
      })
    }
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new SkiffError('INVALID_REQUEST', `producer ${name} must be a positive integer, got ${v}`)
  return v
}
