/**
 * A cluster producer's batches by partition (outbox.ts): how many of each
 * partition await an answer or are held, and the held batches themselves,
 * kept until a retry. While a batch of a partition is held, the later ones
 * of that partition wait behind it, so one key's records keep their order:
 * a retry sends the earliest held batch of each partition ahead (a probe),
 * and the rest of the partition, in the order they were first written, once
 * nothing of it awaits an answer any more.
 */
import type { Batch } from './outbox.js'

/** Names a batch's partition (once per batch held or sent, not per record). */
function partKey(batch: Batch): string {
  return batch.partition === undefined ? batch.topic : `${batch.topic}\u0000${batch.partition}`
}

/** How many batches of each partition are somewhere (in flight, held). */
export class PartitionCounts {
  private readonly counts = new Map<string, number>()

  get size(): number {
    return this.counts.size
  }

  has(batch: Batch): boolean {
    return this.counts.has(partKey(batch))
  }

  add(batch: Batch): void {
    const key = partKey(batch)
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }

  remove(batch: Batch): void {
    const key = partKey(batch)
    const n = (this.counts.get(key) ?? 1) - 1
    if (n > 0) this.counts.set(key, n)
    else this.counts.delete(key)
  }

  clear(): void {
    this.counts.clear()
  }
}

/** Batches held for a route, until retry() or release. */
export class HeldBatches {
  private list: Batch[] = []
  private readonly parts = new PartitionCounts()

  get length(): number {
    return this.list.length
  }

  /** True when some batch of `batch`'s partition is held (later ones wait behind it). */
  holds(batch: Batch): boolean {
    return this.parts.has(batch)
  }

  get any(): boolean {
    return this.parts.size > 0
  }

  add(batch: Batch): void {
    this.list.push(batch)
    this.parts.add(batch)
  }

  /** Take `batch` out; false when it was not held. */
  remove(batch: Batch): boolean {
    const i = this.list.indexOf(batch)
    if (i < 0) return false
    this.list.splice(i, 1)
    this.parts.remove(batch)
    return true
  }

  /**
   * A retry: the earliest held batch of each partition none of whose batches
   * is in `awaiting`, marked as a probe; the others stay held. (While a batch
   * of the partition awaits its answer nothing of it goes ahead of that
   * answer: a refusal of the earlier one and an acceptance of this one would
   * reorder them.)
   */
  takeProbes(awaiting: PartitionCounts): Batch[] {
    const probes: Batch[] = []
    const rest: Batch[] = []
    const probed = new Set<string>()
    for (const b of this.list.sort((a, c) => a.order - c.order)) {
      const key = partKey(b)
      if (probed.has(key) || awaiting.has(b)) rest.push(b)
      else {
        probed.add(key)
        b.probe = true
        probes.push(b)
      }
    }
    this.list = []
    this.parts.clear()
    for (const b of rest) this.add(b)
    return probes
  }

  /** A batch of `batch`'s partition was confirmed: once none of it is in `awaiting`, every held batch of the partition, in order. */
  takePartition(batch: Batch, awaiting: PartitionCounts): Batch[] {
    if (awaiting.has(batch) || !this.parts.has(batch)) return []
    const key = partKey(batch)
    const again = this.list.filter((b) => partKey(b) === key).sort((a, c) => a.order - c.order)
    this.list = this.list.filter((b) => partKey(b) !== key)
    for (const b of again) this.parts.remove(b)
    return again
  }

  /** Every held batch; none is held after. */
  takeAll(): Batch[] {
    const all = this.list
    this.list = []
    this.parts.clear()
    return all
  }
}
