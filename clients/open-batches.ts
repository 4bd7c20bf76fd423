/**
 * A producer's open batches (outbox.ts): the batch each (topic, confirm[,
 * partition]) is filling now, in the order they opened, and the buffers the
 * records are written into. A new batch's buffer starts at the size of the
 * topic's last batch (so a steady producer rarely grows one), and grows by
 * doubling, never past the batch limit; there is room before the records
 * for the PUBLISH fields that precede them and after them (TAIL_ROOM) for
 * those that follow, so the first write frames them where they lie.
 *
 * Buffers are reused: one outgrown, or one whose batch the broker confirmed
 * (outbox.ts: only after a first write that its connection confirmed, so no
 * socket still reads from it), is kept, up to SPARE_BUFFERS of them, and
 * the next batch that fits takes it. A fresh buffer costs a page fault per
 * 4 KiB the first time it is written (large ones are new mappings each
 * time): filling one took several times as long as filling a reused one,
 * the largest cost of a producer of 64 KiB records (bench/README.md).
 */
import { PUBLISH_TAIL_ROOM, publishHeadRoom } from '../protocol/index.js'
import type { Batch } from './outbox.js'

/** Topics whose last batch size is remembered. */
const SIZE_HINTS_MAX = 1024
/** Buffers kept for reuse: at most this many (each at most a batch's limit plus its room: about 4 MiB in all). */
const SPARE_BUFFERS = 16
/** Room after the records for a `partition` field (PUBLISH_TAIL_ROOM leaves it out): its key and a uint below 1024. */
const PARTITION_ROOM = 1 + 'partition'.length + 3
/** Room left after the records: the PUBLISH fields that follow them, `partition` included. */
export const TAIL_ROOM = PUBLISH_TAIL_ROOM + PARTITION_ROOM

export class OpenBatches {
  /** Open batches by topic, one map per kind (no key string built per record). */
  private readonly confirmed = new Map<string, Batch>()
  private readonly fireAndForget = new Map<string, Batch>()
  /** The same for records that name their partition: per topic, indexed by partition. */
  private readonly confirmedParts = new Map<string, (Batch | undefined)[]>()
  private readonly fireAndForgetParts = new Map<string, (Batch | undefined)[]>()
  /** Open batches in the order they opened: closeAll closes them in that order. */
  private order: Batch[] = []
  /**
   * Record bytes of the last batch frozen, per topic: the first size of that
   * topic's next buffer (per topic, so one topic's big batches do not size
   * another's small ones). Bounded: cleared when it names too many topics.
   */
  private readonly lastBatchBytes = new Map<string, number>()
  /** Buffers nothing reads from any more, for the next batches (see the header). */
  private readonly spare: Buffer[] = []

  /** Every open batch, in the order they opened (a copy). */
  all(): Batch[] {
    return this.order.slice()
  }

  /** The open batch for (topic, confirm[, partition]). */
  get(topic: string, confirm: boolean, partition: number | undefined): Batch | undefined {
    if (partition === undefined) return (confirm ? this.confirmed : this.fireAndForget).get(topic)
    return (confirm ? this.confirmedParts : this.fireAndForgetParts).get(topic)?.[partition]
  }

  /** Open a batch with room for at least `first` record bytes (and at most `limit`). */
  open(topic: string, partition: number | undefined, confirm: boolean, first: number, limit: number): Batch {
    const recordsAt = publishHeadRoom(topic)
    const want = Math.min(limit, Math.max(first, this.lastBatchBytes.get(topic) ?? 0))
    const batch: Batch = {
      topic,
      partition,
      confirm,
      buf: this.buffer(recordsAt + want + TAIL_ROOM),
      recordsAt,
      bytes: 0,
      entries: [],
      frozen: undefined,
      conn: undefined,
      corr: 0,
      order: Number.MAX_SAFE_INTEGER,
      sentAt: 0,
      probe: false,
    }
    if (partition === undefined) (confirm ? this.confirmed : this.fireAndForget).set(topic, batch)
    else {
      const parts = confirm ? this.confirmedParts : this.fireAndForgetParts
      let byPartition = parts.get(topic)
      if (!byPartition) parts.set(topic, (byPartition = []))
      byPartition[partition] = batch
    }
    this.order.push(batch)
    return batch
  }

  /** Room for `size` more record bytes in `batch`: its buffer doubled at least, never past `limit`. */
  grow(batch: Batch, size: number, limit: number): void {
    const want = Math.max(batch.bytes + size, Math.min(limit, batch.bytes * 2))
    const buf = this.buffer(batch.recordsAt + want + TAIL_ROOM)
    batch.buf.copy(buf, batch.recordsAt, batch.recordsAt, batch.recordsAt + batch.bytes)
    // Never written anywhere: the next batch may take it.
    this.recycle(batch.buf)
    batch.buf = buf
  }

  /** Keep `buf` for a later batch; the caller guarantees nothing reads or writes it any more. */
  recycle(buf: Buffer): void {
    if (buf.length === 0) return
    const spare = this.spare
    if (spare.length < SPARE_BUFFERS) {
      spare.push(buf)
      return
    }
    // Full: a larger buffer takes the place of the smallest kept, so buffers outgrown while
    // a topic's batches found their size never crowd out the ones its batches need now.
    let smallest = 0
    for (let i = 1; i < spare.length; i++) if (spare[i]!.length < spare[smallest]!.length) smallest = i
    if (spare[smallest]!.length < buf.length) spare[smallest] = buf
  }

  /** A buffer of at least `size` bytes: the last kept one that is large enough, or a new one. */
  private buffer(size: number): Buffer {
    const spare = this.spare
    for (let i = spare.length - 1; i >= 0; i--) {
      const buf = spare[i]!
      if (buf.length < size) continue
      spare[i] = spare[spare.length - 1]!
      spare.pop()
      return buf
    }
    return Buffer.allocUnsafe(size)
  }

  /** Take a batch out of the open ones; false when it was not open. */
  forget(batch: Batch): boolean {
    const i = this.order.indexOf(batch)
    if (i < 0) return false
    this.order.splice(i, 1)
    if (batch.partition === undefined) {
      const open = batch.confirm ? this.confirmed : this.fireAndForget
      if (open.get(batch.topic) === batch) open.delete(batch.topic)
    } else {
      const byPartition = (batch.confirm ? this.confirmedParts : this.fireAndForgetParts).get(batch.topic)
      if (byPartition?.[batch.partition] === batch) byPartition[batch.partition] = undefined
    }
    return true
  }

  /** A batch of `topic` was frozen at `bytes`: the first size of its next buffer. */
  rememberSize(topic: string, bytes: number): void {
    if (this.lastBatchBytes.size >= SIZE_HINTS_MAX && !this.lastBatchBytes.has(topic)) this.lastBatchBytes.clear()
    this.lastBatchBytes.set(topic, bytes)
  }

  /** Every open batch, in the order they opened; none is open after. */
  takeAll(): Batch[] {
    const all = this.order
    this.order = []
    this.confirmed.clear()
    this.fireAndForget.clear()
    this.confirmedParts.clear()
    this.fireAndForgetParts.clear()
    return all
  }
}
