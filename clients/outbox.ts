/**
 * The producer's outbox: where records wait from publish()/send() until the
 * broker has them.
 *
 * - Records collect in an open batch per (topic, confirm). Batches close at
 *   the end of the event-loop turn (setImmediate), or at once when they reach
 *   MAX_BATCH_RECORDS or MAX_BATCH_BYTES (or what the broker's maxFrame
 *   allows), and are written in the order they closed, so the records of one
 *   topic reach the broker in publish order.
 * - A batch owns one buffer: each record is written straight into it (no
 *   Buffer per record), after room left for the PUBLISH frame's header and
 *   leading fields, so the first write frames the records where they lie
 *   (publishFrameAround) without copying them. The buffer starts at the size
 *   of the topic's last batch and doubles when full, never past what the
 *   batch may hold.
 * - A batch is frozen when it is first written: its records are fixed and,
 *   for a confirmed batch, it gets the producer's id and the next sequence
 *   number. A frozen batch never changes again, because the broker's
 *   deduplication recognises a re-sent batch by (producerId, sequence) and
 *   expects the same records; a re-send is a new frame (a new corr) around a
 *   copy of them, so the bytes of the first frame never change either.
 * - Confirmed batches stay in `inFlight` (in the order they were first
 *   written) until their PUBLISH_ACK or ERROR. When the connection is lost
 *   and the client reconnects, `interrupted()` puts them back at the front of
 *   the queue, in that order, so they are re-sent verbatim on the new
 *   connection before anything newer; the broker answers those it already
 *   stored with their original offsets.
 * - Records whose caller gave up (their deadline passed) before their batch
 *   was written are left out of it; a frozen batch whose callers all gave up
 *   is abandoned (not re-sent, its answer no longer awaited).
 * - Writes wait for the socket's 'drain' when it is past its high-water mark.
 *
 * Fire-and-forget batches carry no producer id or sequence: they are
 * at-most-once, written once and forgotten.
 *
 * In a cluster (an owner with `route`, see partition-routes.ts) a record
 * names its partition, batches are per (topic, partition) and carry it, and
 * each batch is written to the connection `route` names for it (its
 * partition's leader). A batch with no route now, or one answered by a
 * refusal that means "not stored here, or maybe stored: send it again"
 * (REROUTED below), or whose connection was lost, is held: never numbered
 * again, never merged, it keeps its producer id, sequence, partition and
 * records. The owner refreshes its routes and calls retry(), which sends the
 * earliest held batch of each partition again (once nothing of that
 * partition awaits an answer), and the rest of the partition, in order,
 * once that one is confirmed. While a batch of a partition is held, the
 * later batches of that partition are held behind it, so one key's records
 * keep their order.
 */
import { randomInt } from 'node:crypto'
import { SkiffError, decodePublishAck, encodePublish, expandPublishAck, isSkiffError, publishFrameAround, type RecordWriter } from '../protocol/index.js'
import type { Connection } from './connection.js'
import type { ConnectionSource } from './link.js'
import { HeldBatches, PartitionCounts } from './held-batches.js'
import { OpenBatches, TAIL_ROOM } from './open-batches.js'

const NO_BYTES = Buffer.alloc(0)

/** Most records in one PUBLISH frame. */
export const MAX_BATCH_RECORDS = 1000
/** Most record bytes in one PUBLISH frame (less when the broker's maxFrame is smaller). */
export const MAX_BATCH_BYTES = 256 * 1024
/** Room for the PUBLISH fields around the records (corr, a 249-character topic, count, ids). */
const PUBLISH_OVERHEAD = 512
/** The broker stores sequences in 32 bits; 0xFFFFFFFF means "none". */
const MAX_SEQUENCE = 0xfffffffe
/**
 * Answers after which a routed batch is held and sent again, with the same
 * producer id and sequence, wherever its partition is led by then: nothing
 * was stored (a follower, a leader below minInSync, no leader), or it may
 * have been (leadership moved or the in-sync set shrank while it was being
 * replicated), or its connection is gone. The broker's dedup window makes
 * the second attempt of a stored batch an acknowledgement of the first.
 */
const REROUTED = new Set(['NOT_LEADER', 'PARTITION_UNAVAILABLE', 'NOT_ENOUGH_REPLICAS', 'CONNECTION_CLOSED', 'SHUTTING_DOWN'])

/** Where a publish landed. */
export interface PublishResult {
  partition: number
  offset: number
}

/** One publish()/send() call on its way. */
export interface Entry {
  readonly topic: string
  /** The partition the record must go to (a cluster's producer routes by itself), or undefined: the broker picks it. */
  readonly partition: number | undefined
  /** When (ms since the epoch) the call gives up: publish rejects with TIMEOUT, send drops. */
  readonly deadline: number
  /** The call's place among its producer's calls (see calls.ts). */
  readonly serial: number
  settled: boolean
  /** Counted in the producer's maxInFlight. */
  holdsSlot: boolean
  batch: Batch | undefined
  /** A publish's promise (undefined for send). */
  resolve: ((r: PublishResult) => void) | undefined
  reject: ((err: unknown) => void) | undefined
}

interface Frozen {
  records: Buffer
  count: number
  producerId: number | undefined
  sequence: number | undefined
}

/** Records for one topic going out in one PUBLISH frame. */
export interface Batch {
  readonly topic: string
  /** Every record goes to this partition (sent as PUBLISH's `partition`), or undefined: the broker picks. */
  readonly partition: number | undefined
  readonly confirm: boolean
  /** The records at [recordsAt, recordsAt + bytes), room for the frame's fields before and after them. */
  buf: Buffer
  readonly recordsAt: number
  bytes: number
  /** One per record, in record order. */
  entries: Entry[]
  frozen: Frozen | undefined
  /** The connection the batch is in flight on, while it awaits its answer there. */
  conn: Connection | undefined
  corr: number
  /**
   * Its place among its outbox's batches, given when it closed (the order
   * they are first written in): held batches go back in this order, those
   * never written yet included.
   */
  order: number
  /** When it was last written (Date.now()). */
  sentAt: number
  /** Sent ahead of the held batches of its partition (see retry()). */
  probe: boolean
}

/** What the outbox reports to its producer. */
export interface OutboxOwner {
  readonly source: ConnectionSource
  /** The batch is done: confirmed (results), refused (err) or, without confirm, written. */
  done(batch: Batch, err?: unknown, results?: PublishResult[]): void
  /** Entries left out of a batch because they gave up before it was written. */
  leftOut(entries: Entry[]): void
  /** Bytes waiting for their first write went down. */
  bytesFreed(): void
  /**
   * In a cluster: the open connection to write `batch` to (its partition's
   * leader), or undefined when there is none now (the batch is held).
   * Without it every batch goes to `source.current`.
   */
  route?(batch: Batch): Connection | undefined
  /** In a cluster: a batch was held (`reason`: the refusal or loss, undefined when no route); retry() is the owner's to call. */
  held?(reason: SkiffError | undefined): void
  /**
   * In a cluster: a batch was refused for a partition its topic does not have (deleted and made
   * again with fewer): the routes are out of date, and the next publishes should not wait for the
   * periodic refresh to be routed over the new count. The refused batch itself fails (it named a
   * partition that is gone; a Kafka producer's batch fails the same way).
   */
  stale?(): void
}

/** A random non-zero producer id below 2^48 (the broker's limit). */
export function newProducerId(): number {
  return randomInt(1, 2 ** 48)
}

/** A producer's batches, from the first record to the broker's answer (see the header comment). */
export class Outbox {
  /** Bytes of records not yet written once (send()'s bound). */
  queuedBytes = 0
  /** Batches put back for re-sending after a reconnect (in a cluster: each re-send of a held batch), over the producer's life. */
  resent = 0
  producerId = newProducerId()
  private sequence = 0
  /** The batches records are being written into (open-batches.ts). */
  private readonly open = new OpenBatches()
  private ready: Batch[] = []
  private readonly inFlight = new Set<Batch>()
  private scheduled = false
  private pumping = false
  private stopped = false
  private closed = 0
  /** In a cluster: batches held for a route (held-batches.ts). */
  private readonly held = new HeldBatches()
  /** Routed batches awaiting their answer, per `topic/partition`. */
  private readonly inFlightParts = new PartitionCounts()
  private readonly routed: boolean

  constructor(private readonly owner: OutboxOwner) {
    this.routed = owner.route !== undefined
  }

  /** How long the oldest batch in flight has awaited its answer (0 when none). */
  oldestInFlightMs(now: number): number {
    for (const b of this.inFlight) return now - b.sentAt
    return 0
  }

  /** Batches held for a route (a cluster's producer). */
  get heldBatches(): number {
    return this.held.length
  }

  /** The largest records blob a batch may carry under the broker's maxFrame. */
  get batchBytesLimit(): number {
    return Math.min(MAX_BATCH_BYTES, this.owner.source.maxFrame - PUBLISH_OVERHEAD)
  }

  /**
   * Queue one record: a measured RecordWriter (written straight into the
   * batch) or a record already encoded (a call that had to wait). The caller
   * has checked that it fits in batchBytesLimit.
   */
  add(topic: string, confirm: boolean, record: RecordWriter | Buffer, entry: Entry): void {
    const size = record.length
    const limit = this.batchBytesLimit
    const partition = entry.partition
    let batch = this.open.get(topic, confirm, partition)
    // Closing writes, and a write can admit a waiting send() that opens the
    // topic's next batch: look again rather than assume there is none.
    while (batch !== undefined && batch.bytes + size > limit) {
      this.closeBatch(batch)
      batch = this.open.get(topic, confirm, partition)
    }
    if (batch === undefined) batch = this.open.open(topic, partition, confirm, size, limit)
    let at = batch.recordsAt + batch.bytes
    if (at + size + TAIL_ROOM > batch.buf.length) {
      this.open.grow(batch, size, limit)
      at = batch.recordsAt + batch.bytes
    }
    if (record instanceof Uint8Array) batch.buf.set(record, at)
    else record.writeTo(batch.buf, at)
    batch.bytes += size
    batch.entries.push(entry)
    entry.batch = batch
    this.queuedBytes += size
    if (batch.entries.length >= MAX_BATCH_RECORDS || batch.bytes >= limit) this.closeBatch(batch)
    else this.schedule()
  }

  /** The batch (topic, confirm, partition) is filling now, if any. */
  openBatch(topic: string, confirm: boolean, partition: number): Batch | undefined {
    return this.open.get(topic, confirm, partition)
  }

  /** Close every open batch now (flush). */
  closeAll(): void {
    for (const batch of this.open.all()) this.closeBatch(batch)
  }

  /** A connection is open: write what waits. */
  resume(): void {
    void this.pump()
  }

  /**
   * Routes may have changed: batches in flight to a broker that no longer
   * leads their partition are taken back (their answer is no longer
   * awaited: that broker can no longer confirm them, the new leader will,
   * or acknowledge them if they reached it). Then the first held batch of
   * each partition goes back to the front of the queue (a probe); the rest
   * of its partition follow, in the order they were first written, once it
   * is confirmed (release()), so a partition refused for a while is not sent
   * its whole backlog again at every retry.
   */
  retry(): void {
    if (this.stopped) return
    if (this.routed) {
      for (const b of this.inFlight) {
        if (b.partition === undefined || this.owner.route!(b) === b.conn) continue
        this.untrack(b)
        b.conn?.cancel(b.corr)
        b.conn = undefined
        this.hold(b, undefined)
      }
    }
    if (this.held.length === 0) return
    this.ready = this.held.takeProbes(this.inFlightParts).concat(this.ready)
    void this.pump()
  }

  /** A batch of `batch`'s partition was confirmed: once none of it awaits an answer, the held ones go, in order. */
  private release(batch: Batch): void {
    const again = this.held.takePartition(batch, this.inFlightParts)
    if (again.length === 0) return
    this.ready = again.concat(this.ready)
    void this.pump()
  }

  /**
   * The connection is lost and a new one will come: batches in flight go back
   * to the front of the queue, in the order they were first written.
   */
  interrupted(): void {
    const again: Batch[] = []
    for (const b of this.inFlight) {
      b.conn = undefined
      if (b.entries.some((e) => !e.settled)) again.push(b)
      else this.owner.done(b) // everyone gave up on it: do not re-send
    }
    this.inFlight.clear()
    this.inFlightParts.clear()
    this.resent += again.length
    this.ready = again.concat(this.ready)
  }

  /** A batch whose callers all gave up: drop it wherever it waits, and stop waiting for its answer. */
  abandon(batch: Batch): void {
    if (this.untrack(batch)) {
      batch.conn?.cancel(batch.corr)
      batch.conn = undefined
      // Batches held behind it would wait for its answer: a retry sends the next of them.
      if (this.routed && this.held.holds(batch)) this.owner.held!(undefined)
    } else {
      const i = this.ready.indexOf(batch)
      if (i >= 0) this.ready.splice(i, 1)
      else if (!this.held.remove(batch) && !this.open.forget(batch)) return
      if (!batch.frozen) {
        this.queuedBytes -= batch.bytes
        this.owner.bytesFreed()
      }
    }
    this.owner.done(batch)
  }

  /** Stop for good; every batch not yet done is handed back. */
  takeAll(): Batch[] {
    this.stopped = true
    const all = [...this.open.takeAll(), ...this.held.takeAll(), ...this.ready, ...this.inFlight]
    for (const b of this.inFlight) b.conn?.cancel(b.corr)
    for (const b of all) b.conn = undefined
    this.ready = []
    this.inFlight.clear()
    this.inFlightParts.clear()
    this.queuedBytes = 0
    return all
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.closeAll()
    })
  }

  private closeBatch(batch: Batch): void {
    if (this.stopped || !this.open.forget(batch)) return // stopped, or already closed
    batch.order = this.closed++
    this.ready.push(batch)
    void this.pump()
  }

  /** Write ready batches in order while a connection is open, waiting for 'drain' when it is congested. */
  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.ready.length > 0 && !this.stopped) {
        let conn: Connection | undefined
        if (this.routed) {
          const batch = this.ready[0]!
          // A probe goes ahead of its partition's held batches; anything else waits behind them.
          conn = !batch.probe && this.held.holds(batch) ? undefined : this.owner.route!(batch)
          batch.probe = false
          if (!conn?.isOpen) {
            this.ready.shift()
            this.hold(batch, undefined)
            continue
          }
        } else {
          conn = this.owner.source.current
          if (!conn?.isOpen) return // resume() runs the pump again on the next connection
        }
        if (conn.needsDrain) {
          await conn.drained()
          continue
        }
        this.write(conn, this.ready.shift()!)
      }
    } finally {
      this.pumping = false
    }
  }

  private write(conn: Connection, batch: Batch): void {
    const first = batch.frozen === undefined
    const frozen = batch.frozen ?? this.freeze(batch)
    if (!frozen) return
    if (this.routed && !first) this.resent++
    const corr = conn.nextCorr()
    const fields = { corr, topic: batch.topic, count: frozen.count, confirm: batch.confirm, producerId: frozen.producerId, sequence: frozen.sequence, partition: batch.partition }
    // The first write frames the records where they lie; a re-send copies them
    // into a new frame, so the bytes handed to the old socket never change.
    const frame =
      (first ? publishFrameAround(batch.buf, batch.recordsAt, batch.recordsAt + frozen.records.length, fields) : undefined) ??
      encodePublish({ ...fields, records: frozen.records })
    if (!batch.confirm) {
      try {
        conn.send(frame)
      } catch {
        // At-most-once: a fire-and-forget record that cannot be written is lost.
      }
      this.owner.done(batch)
      return
    }
    batch.conn = conn
    batch.corr = corr
    if (this.routed) batch.sentAt = Date.now()
    this.inFlight.add(batch)
    if (this.routed) this.inFlightParts.add(batch)
    // No request timer: every entry carries its own deadline (see the producer).
    conn.request(corr, frame, `PUBLISH to ${batch.topic}`, 0).then(
      (answer) => {
        if (batch.conn !== conn) return
        this.untrack(batch)
        batch.conn = undefined
        let results: PublishResult[]
        try {
          results = expandPublishAck(decodePublishAck(answer.body), frozen.count)
        } catch (err) {
          return this.owner.done(batch, err)
        }
        // Written once, to this connection, which has read all of it (it answered): no socket
        // reads from the buffer any more, and the next batch may take it (open-batches.ts).
        if (first) this.reuse(batch)
        this.owner.done(batch, undefined, results)
        // Its partition takes publishes again: what is held behind it goes now.
        if (this.routed && this.held.any) this.release(batch)
      },
      (err: unknown) => {
        if (batch.conn !== conn) return
        // Routed: sent again wherever its partition is led by then (a batch without a partition only after a loss:
        // its broker picked where its records went, another broker could pick otherwise).
        if (this.routed && isSkiffError(err) && REROUTED.has(err.code) && (batch.partition !== undefined || err.code === 'CONNECTION_CLOSED' || err.code === 'SHUTTING_DOWN')) {
          this.untrack(batch)
          batch.conn = undefined
          return this.hold(batch, err)
        }
        // The connection went away, or the broker is shutting down and will
        // close it: the batch stays in flight and is re-sent on the next
        // connection (or failed by the producer when there is none).
        if (isSkiffError(err, 'CONNECTION_CLOSED') || isSkiffError(err, 'SHUTTING_DOWN')) return
        this.untrack(batch)
        batch.conn = undefined
        if (this.routed && isSkiffError(err, 'INVALID_REQUEST') && typeof err.details?.partition === 'number') this.owner.stale?.()
        this.owner.done(batch, err)
        // Batches held behind it waited for its answer: a retry sends the next of them.
        if (this.routed && this.held.holds(batch)) this.owner.held!(undefined)
      },
    )
  }

  /** First write: drop the records of entries that gave up, number a confirmed batch. */
  private freeze(batch: Batch): Frozen | undefined {
    this.queuedBytes -= batch.bytes
    this.owner.bytesFreed()
    if (batch.entries.some((e) => e.settled)) {
      this.leaveOut(batch)
      if (batch.entries.length === 0) return undefined
    }
    this.open.rememberSize(batch.topic, batch.bytes)
    const frozen: Frozen = { records: batch.buf.subarray(batch.recordsAt, batch.recordsAt + batch.bytes), count: batch.entries.length, producerId: undefined, sequence: undefined }
    if (batch.confirm) {
      if (this.sequence > MAX_SEQUENCE) {
        // 2^32 - 1 batches from one id: continue as a new producer rather than reuse a sequence.
        this.producerId = newProducerId()
        this.sequence = 0
      }
      frozen.producerId = this.producerId
      frozen.sequence = this.sequence++
    }
    batch.frozen = frozen
    return frozen
  }

  /** Give a confirmed batch's buffer to the batches to come; the batch keeps none of it. */
  private reuse(batch: Batch): void {
    this.open.recycle(batch.buf)
    batch.buf = NO_BYTES
    batch.frozen!.records = NO_BYTES
  }

  /** Keep a routed batch until retry(); later batches of its partition wait behind it. */
  private hold(batch: Batch, reason: SkiffError | undefined): void {
    // A batch whose callers all gave up is abandoned by the producer's sweep, here as anywhere.
    this.held.add(batch)
    this.owner.held!(reason)
  }

  /** Take a batch out of `inFlight`; false when it was not there. */
  private untrack(batch: Batch): boolean {
    if (!this.inFlight.delete(batch)) return false
    if (this.routed) this.inFlightParts.remove(batch)
    return true
  }

  /** Remove the records of settled entries from an unwritten batch, in place (each record starts with its length). */
  private leaveOut(batch: Batch): void {
    const buf = batch.buf
    const left: Entry[] = []
    const entries: Entry[] = []
    let from = batch.recordsAt
    let to = batch.recordsAt
    for (const e of batch.entries) {
      const size = 4 + buf.readUInt32BE(from)
      if (e.settled) left.push(e)
      else {
        if (to !== from) buf.copyWithin(to, from, from + size)
        to += size
        entries.push(e)
      }
      from += size
    }
    batch.entries = entries
    batch.bytes = to - batch.recordsAt
    this.owner.leftOut(left)
  }
}
