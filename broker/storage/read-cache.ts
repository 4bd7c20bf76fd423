/**
 * The most recently appended batches, kept in memory so consumers at the tail
 * of a partition are served without touching the disk. The cache always holds
 * a contiguous run of batches ending at the log's end offset: it is filled only
 * by appends and loses batches only from its old end, so "from >= firstOffset"
 * is all a reader needs to know that the cache can serve it.
 *
 * Cached batches are the exact buffers written to disk and are never modified,
 * so records handed out as views into them stay valid.
 */
import { forEachRecord } from './batch-cursor.js'
import type { RecordCollector } from './record-collector.js'

interface CachedBatch {
  baseOffset: number
  count: number
  timestamp: number
  bytes: Buffer
}

export class RecentBatches {
  private batches: CachedBatch[] = []
  private head = 0
  private bytes = 0

  constructor(private readonly limitBytes: number) {}

  /** First offset the cache can serve, or undefined when it is empty. */
  get firstOffset(): number | undefined {
    return this.head < this.batches.length ? this.batches[this.head]!.baseOffset : undefined
  }

  get sizeBytes(): number {
    return this.bytes
  }

  add(baseOffset: number, count: number, timestamp: number, batch: Buffer): void {
    if (this.limitBytes <= 0) return
    this.batches.push({ baseOffset, count, timestamp, bytes: batch })
    this.bytes += batch.length
    while (this.bytes > this.limitBytes && this.head < this.batches.length) this.dropOldest()
  }

  /** Forget batches that end at or before `offset` (retention moved the start past them). */
  dropBelow(offset: number): void {
    while (this.head < this.batches.length) {
      const b = this.batches[this.head]!
      if (b.baseOffset + b.count > offset) break
      this.dropOldest()
    }
  }

  clear(): void {
    this.batches = []
    this.head = 0
    this.bytes = 0
  }

  /** Feed records from `from` on to the collector until it is full or the cache ends. */
  read(from: number, out: RecordCollector): void {
    let i = this.find(from)
    for (; i < this.batches.length && !out.full; i++) {
      const b = this.batches[i]!
      forEachRecord(b.bytes, b.baseOffset, (offset, record) => out.offer(offset, b.timestamp, record))
    }
  }

  /** Index of the batch holding `offset` (or the first batch after it). */
  private find(offset: number): number {
    let lo = this.head
    let hi = this.batches.length - 1
    let found = this.head
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.batches[mid]!.baseOffset <= offset) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }

  private dropOldest(): void {
    this.bytes -= this.batches[this.head]!.bytes.length
    this.batches[this.head] = undefined as unknown as CachedBatch
    this.head++
    // Compact now and then so the array does not grow for ever.
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head)
      this.head = 0
    }
  }
}
