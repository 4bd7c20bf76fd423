/**
 * The idempotent producer's memory, per partition: which (producerId,
 * sequence) batches were stored recently and at what offset, so a batch a
 * client re-sends after a reconnect is confirmed with its original offsets
 * instead of being stored twice.
 *
 * The window is time-bound (DEDUP_WINDOW_MS, well over the 2 minutes a client
 * retries within) and size-bound (MAX_ENTRIES per partition; the oldest go
 * first). Entries are kept in arrival order, so pruning only looks at the
 * front. At start the window is rebuilt from the producer ids and sequences
 * that every stored batch header carries, so it survives a broker restart.
 */
import type { ProducerBatch } from '../storage/partition-log.js'

export const DEDUP_WINDOW_MS = 5 * 60 * 1000
export const MAX_ENTRIES = 100_000

export interface StoredBatch {
  baseOffset: number
  count: number
  at: number
}

export class DedupWindow {
  private readonly entries = new Map<string, StoredBatch>()

  constructor(
    private readonly windowMs = DEDUP_WINDOW_MS,
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  static key(producerId: number, sequence: number): string {
    return `${producerId}:${sequence}`
  }

  get size(): number {
    return this.entries.size
  }

  get(producerId: number, sequence: number): StoredBatch | undefined {
    return this.entries.get(DedupWindow.key(producerId, sequence))
  }

  add(producerId: number, sequence: number, baseOffset: number, count: number, at: number): void {
    this.entries.set(DedupWindow.key(producerId, sequence), { baseOffset, count, at })
    this.prune(at)
  }

  /** Forget everything (a copy that becomes leader refills from its own log). */
  clear(): void {
    this.entries.clear()
  }

  /** Refill from stored batch headers (oldest first). */
  restore(batches: ProducerBatch[], now: number): void {
    for (const b of batches) {
      if (now - b.timestamp <= this.windowMs) this.entries.set(DedupWindow.key(b.producerId, b.baseSequence), { baseOffset: b.baseOffset, count: b.count, at: b.timestamp })
    }
    this.prune(now)
  }

  private prune(now: number): void {
    for (const [k, v] of this.entries) {
      if (this.entries.size <= this.maxEntries && now - v.at <= this.windowMs) break
      this.entries.delete(k)
    }
  }
}
