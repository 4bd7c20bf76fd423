/**
 * What slot-table.ts and offset-set.ts share: entries kept in a ring indexed
 * by `offset & mask` over a window [lo, hi) that holds every offset in the
 * ring, widened (and the ring doubled) to take a new offset, up to maxRing
 * entries, and narrowed as entries leave at either end. Subclasses keep the
 * entries (their columns) and say which index is live; an offset that does
 * not fit is theirs to keep elsewhere.
 *
 * Offsets are integers below 2^53; `offset & mask` is offset mod capacity for
 * all of them (ToInt32 keeps the low 32 bits, and the capacity, a power of
 * two, divides 2^32).
 */
export abstract class RingWindow {
  /** Every offset in the ring is in [lo, hi); entries outside it are empty. */
  protected lo = 0
  protected hi = 0
  /** Live entries in the ring. */
  protected inRing = 0
  protected mask: number

  constructor(
    capacity: number,
    private readonly maxRing: number,
  ) {
    this.mask = capacity - 1
  }

  /** Whether the entry at ring index `i` is live. */
  protected abstract live(i: number): boolean
  /** Move the live entries of [lo, hi) into new columns of `capacity` entries (then mask = capacity - 1). */
  protected abstract resize(capacity: number): void
  /** The ring emptied: subclasses may give back a large one. */
  protected abstract emptied(): void

  /** Whether `offset` lies in the window at a live entry. */
  protected inWindow(offset: number): boolean {
    return offset >= this.lo && offset < this.hi && this.live(offset & this.mask)
  }

  /**
   * Take a new live entry for `offset` (not live now): widen the window, grow
   * the ring, count it; false when that would pass maxRing (then nothing changed).
   */
  protected place(offset: number): boolean {
    if (this.inRing === 0) {
      this.lo = offset
      this.hi = offset + 1
      this.inRing = 1
      return true
    }
    const lo = Math.min(this.lo, offset)
    const hi = Math.max(this.hi, offset + 1)
    if (hi - lo > this.mask + 1) {
      if (hi - lo > this.maxRing) return false
      let capacity = this.mask + 1
      while (capacity < hi - lo) capacity *= 2
      this.resize(capacity)
      this.mask = capacity - 1
    }
    this.lo = lo
    this.hi = hi
    this.inRing++
    return true
  }

  /** A live entry just left the ring: narrow the window to the live ones, or reset it when none is left. */
  protected left(): void {
    if (--this.inRing === 0) {
      this.lo = 0
      this.hi = 0
      this.emptied()
      return
    }
    while (!this.live(this.lo & this.mask)) this.lo++
    while (!this.live((this.hi - 1) & this.mask)) this.hi--
  }
}
