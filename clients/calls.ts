/**
 * A producer's calls (publish()/send()) in the order they were made, until
 * each is settled. That order is also deadline order (every call gets the
 * same timeout from the moment it is made), so the oldest unsettled call is
 * the next to time out, and "every call made before flush()" is "every call
 * up to the newest one at that moment".
 *
 * Per call this costs an array push and an index step, not a Set insert and
 * delete: settled calls leave from the front as soon as every older one is
 * settled too, and when calls settle out of order (one slow topic among fast
 * ones) the settled ones are swept out once they are most of the queue, so
 * the queue stays within twice the unsettled calls.
 */
import type { Entry } from './outbox.js'

/** Below this, compacting is not worth a pass. */
const COMPACT_MIN = 1024

interface Barrier {
  /** Resolves once every call up to this serial is settled. */
  upTo: number
  resolve(): void
}

export class CallQueue {
  /** Calls not yet settled. */
  unsettled = 0
  /** Serial of the newest call. */
  private serial = 0
  private items: Entry[] = []
  private head = 0
  /** Settled calls still in items[head..]. */
  private settledInside = 0
  private barriers: Barrier[] = []

  /** The serial for the next call (its Entry carries it). */
  nextSerial(): number {
    return ++this.serial
  }

  add(e: Entry): void {
    this.items.push(e)
    this.unsettled++
  }

  /** A call added before has just been settled (its `settled` flag set). */
  settledOne(): void {
    this.unsettled--
    this.settledInside++
    const items = this.items
    let head = this.head
    while (head < items.length && items[head]!.settled) head++
    this.settledInside -= head - this.head
    this.head = head
    if (head === items.length) {
      this.items = []
      this.head = 0
    } else if (head >= COMPACT_MIN && head * 2 >= items.length) {
      this.items = items.slice(head)
      this.head = 0
    } else if (this.settledInside >= COMPACT_MIN && this.settledInside * 2 >= items.length - head) {
      this.items = items.slice(head).filter((c) => !c.settled)
      this.head = 0
      this.settledInside = 0
    }
  }

  /** The oldest unsettled call. */
  oldest(): Entry | undefined {
    return this.unsettled === 0 ? undefined : this.items[this.head]
  }

  /** Unsettled calls whose deadline is at or before `now`, oldest first. */
  expired(now: number): Entry[] {
    const out: Entry[] = []
    for (let i = this.head; i < this.items.length; i++) {
      const e = this.items[i]!
      if (e.settled) continue
      if (e.deadline > now) break
      out.push(e)
    }
    return out
  }

  /** Every unsettled call, oldest first. */
  all(): Entry[] {
    return this.items.slice(this.head).filter((e) => !e.settled)
  }

  /** Resolve once every call made so far is settled (at once when none is pending). */
  barrier(resolve: () => void): void {
    if (this.unsettled === 0) resolve()
    else this.barriers.push({ upTo: this.serial, resolve })
  }

  /** Resolve the barriers whose calls are all settled; call after settling. */
  releaseBarriers(): void {
    if (this.barriers.length === 0) return
    const oldest = this.oldest()
    const below = oldest === undefined ? Infinity : oldest.serial
    let n = 0
    while (n < this.barriers.length && this.barriers[n]!.upTo < below) this.barriers[n++]!.resolve()
    if (n > 0) this.barriers.splice(0, n)
  }
}
