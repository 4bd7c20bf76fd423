/**
 * The delivered, unsettled offsets of one group cursor (its slots): each
 * one's delivery count, and while a member holds it, that member and its ack
 * deadline (group-cursor.ts).
 *
 * Why not a Map of one object per offset: every message delivered made a map
 * entry and an object, and its ack deleted them again within milliseconds;
 * the lookups and the garbage were a tenth of a partition worker's turn
 * (bench/micro/worker.mjs) and as much again in its young-generation
 * collections. Slots are made at increasing offsets (fresh deliveries at the
 * cursor's `next`) and mostly settled in the same order, so the live ones lie
 * in a short window near the delivery front: here they are three columns
 * (counts, deadlines, holders) of a ring indexed by `offset mod capacity`,
 * covering the window [lo, hi). No object is made per delivery, and a lookup
 * is a range check and an array read.
 *
 * Bounds. The ring doubles as the window widens, up to MAX_RING entries
 * (about 2.5 MiB: 4 + 8 + 8 bytes each); a slot that would widen it further (a
 * message stuck at the floor, waiting out a long nack delay, while a million
 * after it are delivered and acked) goes to a Map instead, as every slot did
 * before: the ring's size is bounded, and what overflows costs what it cost
 * then. A ring grown past KEEP_WHEN_EMPTY entries is given back once it is
 * empty; smaller ones are kept, so a consumer whose window empties every
 * round (S1's lockstep batches) does not make a new ring each round.
 *
 * Offsets are integers below 2^53; `offset & mask` is offset mod capacity for
 * all of them (ToInt32 keeps the low 32 bits, and the capacity divides 2^32).
 */
import type { Member } from './group-cursor.js'

/** A slot outside the ring. */
interface FarSlot {
  count: number
  deadline: number
  holder: Member | undefined
}

const INITIAL = 64
/** A ring at most this large (about 320 KiB) is kept when it empties. */
const KEEP_WHEN_EMPTY = 1 << 14
/** The most entries a ring may have (a power of two). */
export const MAX_RING = 1 << 17

export class SlotTable {
  private counts = new Uint32Array(INITIAL)
  private deadlines = new Float64Array(INITIAL)
  private holders: (Member | undefined)[] = new Array<Member | undefined>(INITIAL).fill(undefined)
  private mask = INITIAL - 1
  /** Every ring slot's offset is in [lo, hi); entries outside it are empty (count 0). */
  private lo = 0
  private hi = 0
  private inRing = 0
  private readonly far = new Map<number, FarSlot>()

  constructor(private readonly maxRing = MAX_RING) {}

  /** Slots, in the ring and outside it. */
  get size(): number {
    return this.inRing + this.far.size
  }

  /** Deliveries of `offset` counted so far; 0 when it has no slot. */
  count(offset: number): number {
    if (offset >= this.lo && offset < this.hi) {
      const c = this.counts[offset & this.mask]!
      if (c > 0) return c
    }
    return this.far.size === 0 ? 0 : (this.far.get(offset)?.count ?? 0)
  }

  /** The member holding `offset` now, if any. */
  holder(offset: number): Member | undefined {
    if (offset >= this.lo && offset < this.hi) {
      const i = offset & this.mask
      if (this.counts[i]! > 0) return this.holders[i]
    }
    return this.far.size === 0 ? undefined : this.far.get(offset)?.holder
  }

  /** The ack deadline of a held `offset` (0 when it has no slot). */
  deadline(offset: number): number {
    if (offset >= this.lo && offset < this.hi) {
      const i = offset & this.mask
      if (this.counts[i]! > 0) return this.deadlines[i]!
    }
    return this.far.size === 0 ? 0 : (this.far.get(offset)?.deadline ?? 0)
  }

  /** Make or replace the slot of `offset`; `count` must be at least 1. */
  set(offset: number, holder: Member | undefined, deadline: number, count: number): void {
    if (this.far.size > 0) {
      const f = this.far.get(offset)
      if (f !== undefined) {
        f.holder = holder
        f.deadline = deadline
        f.count = count
        return
      }
    }
    if (!this.place(offset)) {
      this.far.set(offset, { holder, deadline, count })
      return
    }
    const i = offset & this.mask
    if (this.counts[i] === 0) this.inRing++
    this.counts[i] = count
    this.deadlines[i] = deadline
    this.holders[i] = holder
  }

  /** Who holds an existing slot, and until when (its count unchanged). */
  hold(offset: number, holder: Member | undefined, deadline: number): void {
    if (offset >= this.lo && offset < this.hi) {
      const i = offset & this.mask
      if (this.counts[i]! > 0) {
        this.holders[i] = holder
        this.deadlines[i] = deadline
        return
      }
    }
    const f = this.far.get(offset)
    if (f !== undefined) {
      f.holder = holder
      f.deadline = deadline
    }
  }

  /** Forget the slot of `offset` (nothing when it has none). */
  delete(offset: number): void {
    if (offset >= this.lo && offset < this.hi) {
      const i = offset & this.mask
      if (this.counts[i]! > 0) {
        this.counts[i] = 0
        this.holders[i] = undefined
        this.inRing--
        if (this.inRing === 0) this.empty()
        else {
          // Keep the window tight at both ends, so it spans the live slots only.
          while (this.counts[this.lo & this.mask] === 0) this.lo++
          while (this.counts[(this.hi - 1) & this.mask] === 0) this.hi--
        }
        return
      }
    }
    if (this.far.size > 0) this.far.delete(offset)
  }

  /**
   * Call `visit` with the offset of every slot: the ring's in offset order,
   * then the others. `visit` may change a slot's holder and deadline (hold),
   * not make or delete slots.
   */
  forEach(visit: (offset: number) => void): void {
    for (let o = this.lo; o < this.hi; o++) if (this.counts[o & this.mask]! > 0) visit(o)
    if (this.far.size > 0) for (const o of this.far.keys()) visit(o)
  }

  /** Every slot's offset, as forEach visits them (a copy: the caller may delete). */
  offsets(): number[] {
    const out: number[] = []
    this.forEach((o) => out.push(o))
    return out
  }

  /**
   * Make room in the ring for `offset`, widening the window (and growing the
   * ring) as needed; false when that would pass maxRing.
   */
  private place(offset: number): boolean {
    if (this.inRing === 0) {
      this.lo = offset
      this.hi = offset + 1
      return true
    }
    const lo = Math.min(this.lo, offset)
    const hi = Math.max(this.hi, offset + 1)
    if (hi - lo > this.counts.length) {
      if (hi - lo > this.maxRing) return false
      this.grow(hi - lo)
    }
    this.lo = lo
    this.hi = hi
    return true
  }

  /** A ring of at least `span` entries (a power of two), the live slots moved to their new places. */
  private grow(span: number): void {
    let cap = this.counts.length
    while (cap < span) cap *= 2
    const counts = new Uint32Array(cap)
    const deadlines = new Float64Array(cap)
    const holders = new Array<Member | undefined>(cap).fill(undefined)
    const mask = cap - 1
    for (let o = this.lo; o < this.hi; o++) {
      const from = o & this.mask
      if (this.counts[from] === 0) continue
      const to = o & mask
      counts[to] = this.counts[from]!
      deadlines[to] = this.deadlines[from]!
      holders[to] = this.holders[from]
    }
    this.counts = counts
    this.deadlines = deadlines
    this.holders = holders
    this.mask = mask
  }

  /** No slot left in the ring: a ring grown past KEEP_WHEN_EMPTY is given back. */
  private empty(): void {
    this.lo = 0
    this.hi = 0
    if (this.counts.length > KEEP_WHEN_EMPTY) {
      this.counts = new Uint32Array(INITIAL)
      this.deadlines = new Float64Array(INITIAL)
      this.holders = new Array<Member | undefined>(INITIAL).fill(undefined)
      this.mask = INITIAL - 1
    }
  }
}
