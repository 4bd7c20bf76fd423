/**
 * A set of offsets that lie near each other and move up together: a group
 * cursor's settled offsets above its floor (group-cursor.ts). Acks that
 * arrive out of order (several consumers in one group, or a slow message
 * among fast ones) put each offset here until the floor passes it.
 *
 * Why not a Set: every out-of-order ack was an insert and, when the floor
 * passed, a delete in a hash table that grows and shrinks with the window;
 * in S4 (four consumers in one group) that was 7% of the worker's turn. Here
 * each offset is a byte of a ring indexed by `offset mod capacity` over the
 * window [lo, hi) of its members, as slot-table.ts keeps the delivered ones
 * (same layout, same reasons, same bounds): the ring doubles up to MAX_RING
 * bytes, an offset that would widen it further goes to a Set, and a ring past
 * KEEP_WHEN_EMPTY bytes is given back when it empties. The window itself is
 * ring-window.ts.
 */
import { RingWindow } from './ring-window.js'

const INITIAL = 64
const KEEP_WHEN_EMPTY = 1 << 16
/** The most bytes a ring may have (a power of two). */
export const MAX_RING = 1 << 20

export class OffsetSet extends RingWindow implements Iterable<number> {
  /** 1: the offset at that index is in the set. */
  private marks = new Uint8Array(INITIAL)
  private readonly far = new Set<number>()

  constructor(maxRing = MAX_RING) {
    super(INITIAL, maxRing)
  }

  get size(): number {
    return this.inRing + this.far.size
  }

  has(offset: number): boolean {
    return this.inWindow(offset) || (this.far.size > 0 && this.far.has(offset))
  }

  add(offset: number): void {
    if (this.has(offset)) return
    if (!this.place(offset)) {
      this.far.add(offset)
      return
    }
    this.marks[offset & this.mask] = 1
  }

  /** True when `offset` was in the set. */
  delete(offset: number): boolean {
    if (this.inWindow(offset)) {
      this.marks[offset & this.mask] = 0
      this.left()
      return true
    }
    return this.far.size > 0 && this.far.delete(offset)
  }

  /** The ring's offsets in order, then the others. */
  *[Symbol.iterator](): Iterator<number> {
    for (let o = this.lo; o < this.hi; o++) if (this.marks[o & this.mask] === 1) yield o
    yield* this.far
  }

  protected live(i: number): boolean {
    return this.marks[i] === 1
  }

  protected resize(capacity: number): void {
    const marks = new Uint8Array(capacity)
    for (let o = this.lo; o < this.hi; o++) if (this.marks[o & this.mask] === 1) marks[o & (capacity - 1)] = 1
    this.marks = marks
  }

  protected emptied(): void {
    if (this.marks.length <= KEEP_WHEN_EMPTY) return
    this.marks = new Uint8Array(INITIAL)
    this.mask = INITIAL - 1
  }
}
