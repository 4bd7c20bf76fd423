/**
 * Everything a worker sends the gateway in one event-loop turn: replies,
 * logs, and deliveries grouped per group member, so each member gets one
 * DELIVER frame per turn (split only to stay under the frame limit) and each
 * connection one `out` op carrying its small frames, and one per large frame
 * (transferred to the gateway rather than copied: see out()).
 */
import { encodeDeliverRecords, type StoredRecord } from '../../protocol/index.js'
import { ATTACH_MIN_BYTES, transferOnPost } from '../thread-codec.js'
import type { FromWorker, RequestOp, Results } from '../thread-messages.js'
import { SkiffError, type ErrorName } from '../../protocol/errors.js'

/** Where deliveries go: one subscription on one connection (a group member). */
export interface Recipient {
  readonly conn: number
  readonly sub: number
}

/** One member's deliveries of this turn: the stored records themselves, no array per message. */
interface SubBatch {
  conn: number
  sub: number
  /** A member belongs to one partition's group cursor, so its deliveries are all of one partition. */
  partition: number
  records: StoredRecord[]
  /** Delivery counts, one per record, made only once a record is not on its first delivery. */
  counts: number[] | undefined
  bytes: number
}

/**
 * Deliveries one turn may hand the gateway, in record bytes. Each group
 * reads at most a few MiB a turn (partition.ts PUMP_READS), but many groups
 * reading a backlog at once made one turn's message tens of MiB (24 groups of
 * a 64 KiB-record topic: 96 MiB built in the worker, then held by the gateway
 * while sockets take it), and a few such turns in a row peaked the broker at
 * 800 MiB. Past this, the pumps stop and the rest goes out in the next turns
 * (pumps that stop take their turn first next time: see PartitionWorker.finishTurn, pump).
 */
export const TURN_DELIVERY_BYTES = 16 * 1024 * 1024

/** Move the first `n` entries of a map to its end (a Map iterates in insertion order): who was served goes to the back. */
export function toBack<K, V>(map: Map<K, V>, n: number): void {
  for (const [k, v] of [...map].slice(0, n)) {
    map.delete(k)
    map.set(k, v)
  }
}

interface LocalWaiter {
  resolve: (result: unknown) => void
  reject: (err: SkiffError) => void
}

export class Outbox {
  private ops: FromWorker[] = []
  /** Record bytes delivered this turn (TURN_DELIVERY_BYTES). */
  private turnBytes = 0
  /**
   * This turn's deliveries, by the member object they go to and then by
   * partition: no key string per message. A member serves every partition of
   * its subscription on this worker (WorkerContext.members), and a DELIVER
   * carries one partition, so each gets its own. `last` is the batch the
   * previous record went to: a pump delivers a partition's records in a row.
   */
  private subs = new Map<Recipient, Map<number, SubBatch>>()
  private last: SubBatch | undefined
  private frames = new Map<number, Buffer[]>()
  private scheduled = false
  /** Requests this worker makes of itself (its replica fetchers' appends), by their negative ids: settled here, never posted. */
  private readonly locals = new Map<number, LocalWaiter>()
  private nextLocal = -1

  constructor(
    private readonly post: (ops: FromWorker[]) => void,
    private readonly maxFrameBytes: number,
    private readonly onFlush: () => void,
  ) {}

  /** Answer a request with the result its kind has (Results in thread-messages.ts): a result of another shape does not compile. */
  answer<K extends RequestOp['t']>(op: { readonly t: K; readonly id: number }, result: Results[K]): void {
    this.done(op.id, result)
  }

  /** Answer request `id` when its op is no longer at hand (a publish confirm after the turn's sync). */
  done(id: number, result: Results[RequestOp['t']]): void {
    if (id < 0) return this.settleLocal(id, (w) => w.resolve(result))
    this.ops.push({ t: 'done', id, result })
    this.schedule()
  }

  fail(id: number, code: ErrorName, message: string): void {
    if (id < 0) return this.settleLocal(id, (w) => w.reject(new SkiffError(code, message)))
    this.ops.push({ t: 'fail', id, code, message })
    this.schedule()
  }

  /**
   * An id for a request this worker makes of itself, and the promise its
   * answer settles: done() and fail() with it resolve or reject the promise
   * instead of posting to the gateway. Gateway ids are positive.
   */
  local<K extends RequestOp['t']>(): { id: number; answer: Promise<Results[K]> } {
    const id = this.nextLocal--
    const answer = new Promise<Results[K]>((resolve, reject) => this.locals.set(id, { resolve: resolve as (r: unknown) => void, reject }))
    return { id, answer }
  }

  private settleLocal(id: number, settle: (waiter: LocalWaiter) => void): void {
    const waiter = this.locals.get(id)
    if (!waiter) return
    this.locals.delete(id)
    settle(waiter)
  }

  push(op: FromWorker): void {
    this.ops.push(op)
    this.schedule()
  }

  log(event: Record<string, unknown>): void {
    this.push({ t: 'log', event })
  }

  deliver(to: Recipient, partition: number, rec: StoredRecord, deliveryCount: number): void {
    let b = this.last
    // A member is one (conn, sub) on this worker: those and the partition name the batch.
    if (b === undefined || b.partition !== partition || b.conn !== to.conn || b.sub !== to.sub) {
      let byPartition = this.subs.get(to)
      if (!byPartition) this.subs.set(to, (byPartition = new Map()))
      b = byPartition.get(partition)
      if (!b) byPartition.set(partition, (b = { conn: to.conn, sub: to.sub, partition, records: [], counts: undefined, bytes: 0 }))
      this.last = b
    }
    const size = rec.record.length + 32
    // Leave room for the frame and map overhead under the peer's frame limit.
    if (b.records.length > 0 && b.bytes + size > this.maxFrameBytes - 1024) this.sealSub(b)
    if (deliveryCount !== 1 || b.counts !== undefined) {
      b.counts ??= new Array<number>(b.records.length).fill(1)
      b.counts.push(deliveryCount)
    }
    b.records.push(rec)
    b.bytes += size
    this.turnBytes += size
    this.schedule()
  }

  /** This turn has delivered its share: pumps stop and go on next turn. */
  get turnFull(): boolean {
    return this.turnBytes >= TURN_DELIVERY_BYTES
  }

  private sealSub(b: SubBatch): void {
    if (b.records.length === 0) return
    const frame = encodeDeliverRecords(b.sub, b.partition, b.records, b.counts)
    let list = this.frames.get(b.conn)
    if (!list) this.frames.set(b.conn, (list = []))
    list.push(frame)
    b.records = []
    b.counts = undefined
    b.bytes = 0
  }

  schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.flush())
  }

  /**
   * Send the replies queued so far (confirms, subscribe answers) now, ahead of
   * this turn's deliveries. The owner calls it between its fsync and its
   * delivery work: a producer's confirm then does not wait for the DELIVER
   * frames of every group to be encoded (S1's confirm round trip bounds its
   * throughput, the window being one batch). Deliveries follow in the turn's
   * second message, so a reply still reaches the gateway before any frame
   * queued after it. One extra postMessage per turn at most.
   */
  sendReplies(): void {
    if (this.ops.length === 0) return
    const ops = this.ops
    this.ops = []
    this.post(ops)
  }

  /**
   * A connection's DELIVER frames of this turn, in order: a large frame is
   * its own `out` op and its ArrayBuffer is transferred to the gateway, not
   * copied (thread-codec.ts); the small ones between are joined into one.
   */
  private out(conn: number, frames: Buffer[]): void {
    let small: Buffer[] = []
    for (const frame of frames) {
      if (frame.length < ATTACH_MIN_BYTES) {
        small.push(frame)
        continue
      }
      if (small.length > 0) this.ops.push({ t: 'out', conn, bytes: small.length === 1 ? small[0]! : Buffer.concat(small) })
      small = []
      transferOnPost(frame)
      this.ops.push({ t: 'out', conn, bytes: frame })
    }
    if (small.length > 0) this.ops.push({ t: 'out', conn, bytes: small.length === 1 ? small[0]! : Buffer.concat(small) })
  }

  /** Something is going to the gateway at the end of this turn (ops, or deliveries to frame). */
  get sending(): boolean {
    return this.ops.length > 0 || this.subs.size > 0 || this.frames.size > 0
  }

  /** Run the owner's end-of-turn work (sync, confirm, deliver), then send one message. */
  flush(): void {
    // Still marked scheduled while the owner works, so what it adds joins this message.
    this.onFlush()
    this.scheduled = false
    for (const byPartition of this.subs.values()) for (const b of byPartition.values()) this.sealSub(b)
    this.subs.clear()
    this.last = undefined
    this.turnBytes = 0
    for (const [conn, list] of this.frames) this.out(conn, list)
    this.frames.clear()
    if (this.ops.length === 0) return
    const ops = this.ops
    this.ops = []
    this.post(ops)
  }
}
