/**
 * The most recently appended batches, kept in memory so consumers at the tail
 * of a partition are served without touching the disk. The cache always holds
 * a contiguous run of batches ending at the log's end offset: it is filled only
 * by appends and loses batches only from its old end (or all at once), so
 * "from >= firstOffset" is all a reader needs to know that the cache can serve
 * it.
 *
 * Cached batches are the exact buffers written to disk and are never modified,
 * so records handed out as views into them stay valid.
 *
 * Memory. Each cache has its own limit (4 MiB by default), and the caches of
 * one thread (a worker's partitions) together THREAD_CACHE_BYTES: past it, the
 * least recently used ones are emptied, so a worker with a thousand
 * partitions does not hold 4 GiB. When the thread goes idle,
 * releaseReadCaches() empties them all (memory/idle-release.ts says why); a
 * tail reader then reads from the file (the OS page cache) until appends
 * fill its cache again.
 */
import { forEachRecord } from './batch-cursor.js'
import type { RecordCollector } from './record-collector.js'

interface CachedBatch {
  baseOffset: number
  count: number
  timestamp: number
  bytes: Buffer
}

/** All read caches of one thread together (module state is per thread). */
export const THREAD_CACHE_BYTES = 64 * 1024 * 1024

/** Caches holding bytes, least recently used first (a Set keeps insertion order: a use re-inserts). */
const holding = new Set<RecentBatches>()
let threadBytes = 0

/** The thread budget in force (tests set a small one with setThreadCacheBytes). */
const threadLimit = { bytes: THREAD_CACHE_BYTES }

export function setThreadCacheBytes(bytes: number): void {
  threadLimit.bytes = bytes
}

/** Bytes held by the read caches of this thread. */
export function readCacheBytes(): number {
  return threadBytes
}

/** Empty every read cache of this thread. */
export function releaseReadCaches(): void {
  for (const c of [...holding]) c.clear()
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
    this.grow(batch.length)
    this.touch()
    while (this.bytes > this.limitBytes && this.head < this.batches.length) this.dropOldest()
    // Past the thread's budget: empty the least recently used caches (never this one, which its own limit bounds).
    for (const c of holding) {
      if (threadBytes <= threadLimit.bytes) break
      if (c !== this) c.clear()
    }
  }

  /** Forget batches that end at or before `offset` (retention moved the start past them). */
  dropBelow(offset: number): void {
    while (this.head < this.batches.length) {
      const b = this.batches[this.head]!
      if (b.baseOffset + b.count > offset) break
      this.dropOldest()
    }
  }

  /** Empty the cache (also what closing its log does: the thread's budget stops counting it). */
  clear(): void {
    this.batches = []
    this.head = 0
    this.grow(-this.bytes)
  }

  /** Feed records from `from` on to the collector until it is full or the cache ends. */
  read(from: number, out: RecordCollector): void {
    this.touch()
    let i = this.find(from)
    for (; i < this.batches.length && !out.full; i++) {
      const b = this.batches[i]!
      forEachRecord(b.bytes, b.baseOffset, (offset, record) => out.offer(offset, b.timestamp, record))
    }
  }

  /** Hand whole batches from the one holding `from` on to `take` until it answers false or the cache ends. */
  batchesFrom(from: number, take: (batch: Buffer) => boolean): void {
    this.touch()
    for (let i = this.find(from); i < this.batches.length; i++) {
      const b = this.batches[i]!
      if (b.baseOffset + b.count <= from) continue
      if (!take(b.bytes)) return
    }
  }

  /** Mark as the most recently used. */
  private touch(): void {
    if (this.bytes === 0) return
    holding.delete(this)
    holding.add(this)
  }

  /** Count `delta` bytes here and in the thread's total; join or leave the holders. */
  private grow(delta: number): void {
    this.bytes += delta
    threadBytes += delta
    if (this.bytes > 0) holding.add(this)
    else holding.delete(this)
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
    this.grow(-this.batches[this.head]!.bytes.length)
    this.batches[this.head] = undefined as unknown as CachedBatch
    this.head++
    // Compact now and then so the array does not grow for ever.
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head)
      this.head = 0
    }
  }
}
