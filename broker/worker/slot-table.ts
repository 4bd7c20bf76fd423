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
 * round (S1's lockstep batches) does not make a new ring each round. The
 * window itself is ring-window.ts.
 */
import type { Member } from './group-cursor.js'
import { RingWindow } from './ring-window.js'

/** A slot outside the ring. */
interface FarSlot {
  count: number
  deadline: number
  holder: Member | undefined
}

const INITIAL = 64
/** A ring at most this large (about 80 KiB) is kept when it empties: every window up to 4,096 deliveries reuses its ring. */
const KEEP_WHEN_EMPTY = 1 << 12
/** The most entries a ring may have (a power of two). */
export const MAX_RING = 1 << 17

export class SlotTable extends RingWindow {
  /** Delivery counts; 0: no slot. */
  private counts = new Uint32Array(INITIAL)
  private deadlines = new Float64Array(INITIAL)
  private holders: (Member | undefined)[] = new Array<Member | undefined>(INITIAL).fill(undefined)
  private readonly far = new Map<number, FarSlot>()

  constructor(maxRing = MAX_RING) {
    super(INITIAL, maxRing)
  }

  /** Slots, in the ring and outside it. */
  get size(): number {
    return this.inRing + this.far.size
  }

  /** Deliveries of `offset` counted so far; 0 when it has no slot. */
  count(offset: number): number {
    if (this.inWindow(offset)) return this.counts[offset & this.mask]!
    return this.far.size === 0 ? 0 : (this.far.get(offset)?.count ?? 0)
  }

  /** The member holding `offset` now, if any. */
  holder(offset: number): Member | undefined {
    if (this.inWindow(offset)) return this.holders[offset & this.mask]
    return this.far.size === 0 ? undefined : this.far.get(offset)?.holder
  }

  /** The ack deadline of a held `offset` (0 when it has no slot). */
  deadline(offset: number): number {
    if (this.inWindow(offset)) return this.deadlines[offset & this.mask]!
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
    if (!this.inWindow(offset) && !this.place(offset)) {
      this.far.set(offset, { holder, deadline, count })
      return
    }
    const i = offset & this.mask
    this.counts[i] = count
    this.deadlines[i] = deadline
    this.holders[i] = holder
  }

  /** Who holds an existing slot, and until when (its count unchanged). */
  hold(offset: number, holder: Member | undefined, deadline: number): void {
    if (this.inWindow(offset)) {
      const i = offset & this.mask
      this.holders[i] = holder
      this.deadlines[i] = deadline
      return
    }
    const f = this.far.get(offset)
    if (f !== undefined) {
      f.holder = holder
      f.deadline = deadline
    }
  }

  /** Forget the slot of `offset` (nothing when it has none). */
  delete(offset: number): void {
    if (this.inWindow(offset)) {
      const i = offset & this.mask
      this.counts[i] = 0
      this.holders[i] = undefined
      this.left()
      return
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

  protected live(i: number): boolean {
    return this.counts[i]! > 0
  }

  protected resize(capacity: number): void {
    const counts = new Uint32Array(capacity)
    const deadlines = new Float64Array(capacity)
    const holders = new Array<Member | undefined>(capacity).fill(undefined)
    const mask = capacity - 1
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
  }

  protected emptied(): void {
    if (this.counts.length <= KEEP_WHEN_EMPTY) return
    this.counts = new Uint32Array(INITIAL)
    this.deadlines = new Float64Array(INITIAL)
    this.holders = new Array<Member | undefined>(INITIAL).fill(undefined)
    this.mask = INITIAL - 1
  }
}
