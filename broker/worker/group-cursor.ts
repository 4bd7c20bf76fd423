/**
 * One consumer group's position on one partition, owned by the partition's
 * worker (no locks). It decides what is delivered next and to whom; the
 * partition reads the records and encodes the frames.
 *
 * State (durable parts marked *):
 *   floor*     every offset below it is settled (acked or dead-lettered)
 *   settled*   settled offsets at or above the floor (a byte each in a ring, offset-set.ts)
 *   next*      the next offset never delivered
 *   slots      one per delivered-but-unsettled offset: its delivery count*, and
 *              while a member holds it, the member and its ack deadline (kept
 *              across redeliveries; columns of a ring, slot-table.ts)
 *   redeliver  offsets waiting to go out again (nack delay, timeout, member gone)
 *
 * After a restart `next` is set back to the floor: everything unsettled is
 * delivered again in offset order (at-least-once), settled offsets are skipped,
 * and delivery counts carry on from the snapshot and the delivery journal
 * (group-recovery.ts).
 *
 * Every delivery counts toward the member's maxDeliveries, whatever brought
 * the message back: a nack, an ack timeout, its member leaving (released()
 * hands those back to the partition, which dead-letters the spent ones) or a
 * crash (the count comes back from disk, and assign() refuses to deliver a
 * message whose count already reached the member's limit).
 */
import type { GroupSnapshot } from '../storage/group-state.js'
import { OffsetSet } from './offset-set.js'
import { SlotTable } from './slot-table.js'

/**
 * A subscription on this worker: one object in the cursor of each of its
 * partitions here (WorkerContext.members), so `inFlight` counts what it holds
 * on all of them and `maxInFlight` is their shared window.
 */
export interface Member {
  conn: number
  sub: number
  maxInFlight: number
  inFlight: number
  ackTimeoutMs: number
  maxDeliveries: number
  /**
   * ack "none": what this member is sent is settled at once (at most once for
   * the group); `inFlight` then counts deliveries whose credit has not come back.
   */
  ackNone: boolean
  /**
   * Its connection's socket is backed up (the gateway says so past a few MiB
   * of unsent output): it takes no deliveries, and its credits do not count,
   * until the socket drains. A reader that stops reading then costs the
   * broker what is already on its way, not its whole window of credits.
   */
  congested?: boolean
}

interface Waiting {
  offset: number
  notBefore: number
}

/**
 * Where assign() put an offset: the member chosen, and the delivery count (1
 * for a first delivery; 0 when the member was not given it because its
 * deliveries had already reached the member's maxDeliveries). The pump passes
 * one object it reuses, so no object is made per message.
 */
export interface Assignment {
  member: Member | undefined
  count: number
}

/** A held offset taken back from its member (ack deadline passed, member gone): redeliver it or dead-letter it. */
export interface Expired {
  offset: number
  count: number
  member: Member
}

/** What recovery did to a group at open (group-recovery.ts), shown by describeGroup for the life of the process. */
export interface GroupRecovery {
  /** Its saved position lay beyond the recovered end of the log: offsets past the end were dropped. */
  clamped?: { savedNext: number; savedEnd: number; endOffset: number }
  /** Its state was lost (both files missing or unreadable): it restarted at the earliest retained offset. */
  reset?: { reason: 'missing' | 'unreadable'; restartedAt: number }
}

/**
 * Nacked messages free their credits, so a consumer that nacks everything
 * could park the whole log in `redeliver`. Past this many waiting offsets the
 * group takes no fresh messages until some are settled.
 */
export const MAX_WAITING = 100_000

/** The metrics' group label of every ephemeral group (not a valid group name, so no group can share it). */
export const EPHEMERAL_LABEL = '~ephemeral'

export class GroupCursor {
  floor: number
  next: number
  readonly settled = new OffsetSet()
  private readonly slots = new SlotTable()
  /** Slots held by a member now. */
  private held = 0
  private redeliver: Waiting[] = []
  readonly members: Member[] = []
  private rr = 0
  dirty = false
  recovery: GroupRecovery | undefined
  /**
   * An ephemeral subscription's group: never saved, not in the delivery
   * journal, not listed, removed when its member leaves (partition.ts).
   */
  ephemeral = false

  constructor(
    readonly group: string,
    start: number,
    snapshot?: GroupSnapshot,
  ) {
    if (snapshot) {
      this.floor = snapshot.floor
      for (const o of snapshot.acked) if (o >= snapshot.floor) this.settled.add(o)
      for (const [o, c] of snapshot.deliveries) if (o >= snapshot.floor && !this.settled.has(o) && c > 0) this.slots.set(o, undefined, 0, c)
      this.next = snapshot.floor
    } else {
      this.floor = start
      this.next = start
      this.dirty = true // pin the start position (e.g. "latest") on disk
    }
  }

  /** The group as metrics name it: every ephemeral group counts under one name, so short-lived ones add no series. */
  get label(): string {
    return this.ephemeral ? EPHEMERAL_LABEL : this.group
  }

  snapshot(): GroupSnapshot {
    const deliveries: [number, number][] = []
    this.slots.forEach((o) => deliveries.push([o, this.slots.count(o)]))
    return { next: this.next, floor: this.floor, acked: [...this.settled], deliveries }
  }

  /** Offsets held by members now (delivered, not yet settled or released). */
  get inFlight(): number {
    return this.held
  }

  /** Whether a member holds `offset` now. */
  isHeld(offset: number): boolean {
    return this.slots.holder(offset) !== undefined
  }

  /** Records not yet settled, out of the partition's `end`. */
  lag(end: number): number {
    return Math.max(0, end - this.floor - this.settled.size)
  }

  addMember(m: Member): void {
    this.members.push(m)
  }

  /**
   * Remove a member; what it held is taken back and returned (each delivery
   * to it counted), for the caller to redeliver or dead-letter. Undefined
   * when the member was not here.
   */
  removeMember(conn: number, sub: number): Expired[] | undefined {
    const i = this.members.findIndex((m) => m.conn === conn && m.sub === sub)
    if (i < 0) return undefined
    const member = this.members[i]!
    this.members.splice(i, 1)
    const out: Expired[] = []
    if (this.held > 0) {
      this.slots.forEach((offset) => {
        if (this.slots.holder(offset) !== member) return
        this.unhold(offset, member)
        out.push({ offset, count: this.slots.count(offset), member })
      })
    }
    return out
  }

  /**
   * The members leave this cursor, which is being replaced or dropped (a
   * reset, a deleted group, the leader's state taking over, the partition
   * closing): what each held here is given back to its credits, which its
   * other partitions share, and nothing is held here any more. Returns them.
   */
  releaseMembers(): Member[] {
    if (this.held > 0) {
      this.slots.forEach((offset) => {
        const holder = this.slots.holder(offset)
        if (holder !== undefined) this.unhold(offset, holder)
      })
    }
    return this.members.splice(0)
  }

  /** Remove every member of a connection; what they held, as removeMember. */
  removeConnection(conn: number): Expired[] {
    const out: Expired[] = []
    for (const m of this.members.filter((x) => x.conn === conn)) out.push(...this.removeMember(m.conn, m.sub)!)
    return out
  }

  member(conn: number, sub: number): Member | undefined {
    return this.members.find((m) => m.conn === conn && m.sub === sub)
  }

  /** Credits left across members. */
  credits(): number {
    let n = 0
    for (const m of this.members) if (m.congested !== true) n += Math.max(0, m.maxInFlight - m.inFlight)
    return n
  }

  /**
   * Whether there are offsets never delivered below the log's `end` that this
   * group may take now (not while MAX_WAITING redeliveries wait).
   */
  hasFresh(end: number): boolean {
    return this.next < end && this.redeliver.length < MAX_WAITING
  }

  /**
   * The log handed out `offset` as the next record never delivered: offsets
   * before it that the log no longer has (damage) are settled, and the cursor
   * moves past it. False when it was settled before a restart: skip it.
   */
  takeFresh(offset: number): boolean {
    while (this.next < offset) this.settle(this.next++)
    this.next = offset + 1
    return !this.settled.has(offset)
  }

  /** The fresh offset just taken found no member with a credit: it is the next one again. */
  untakeFresh(offset: number): void {
    this.next = offset
  }

  /** The log cannot be read from `next` up to `end` (a damaged tail): those offsets are settled, never delivered. */
  settleUnreadable(end: number): void {
    while (this.next < end) this.settle(this.next++)
  }

  hasDueRedelivery(now: number): boolean {
    return this.redeliver.some((w) => w.notBefore <= now)
  }

  /** Offsets whose redelivery is due, lowest first, at most `max`; removed from the queue. */
  takeDue(now: number, max: number): number[] {
    if (this.redeliver.length === 0 || max <= 0) return []
    const due: Waiting[] = []
    const rest: Waiting[] = []
    for (const w of this.redeliver) (w.notBefore <= now ? due : rest).push(w)
    if (due.length === 0) return []
    due.sort((a, b) => a.offset - b.offset)
    const taken = due.slice(0, max)
    this.redeliver = rest.concat(due.slice(max))
    return taken.map((w) => w.offset)
  }

  /**
   * Give `offset` to the next member with a free credit (round-robin), written
   * into `into`; false when no member has a credit.
   */
  assign(offset: number, now: number, into: Assignment): boolean {
    const n = this.members.length
    const count = this.slots.count(offset)
    for (let k = 0; k < n; k++) {
      const m = this.members[(this.rr + k) % n]!
      if (m.inFlight >= m.maxInFlight || m.congested === true) continue
      this.rr = (this.rr + k + 1) % n
      if (count > 0 && count >= m.maxDeliveries) {
        // Delivered as often as this member allows already (a count carried over a crash, or
        // left by a member with a higher limit): not once more. The caller dead-letters it.
        into.member = m
        into.count = 0
        return true
      }
      if (m.ackNone) {
        // Settled as it goes out (with any count left from an earlier delivery to an explicit member).
        into.member = m
        into.count = count + 1
        m.inFlight++
        this.settle(offset)
        return true
      }
      // A slot held by no one (released, or restored from disk) is handed out again with its count.
      this.slots.set(offset, m, now + m.ackTimeoutMs, count + 1)
      this.held++
      m.inFlight++
      this.dirty = true
      into.member = m
      into.count = count + 1
      return true
    }
    return false
  }

  /** Deliveries of `offset` counted so far (0: none, or settled). */
  deliveries(offset: number): number {
    return this.slots.count(offset)
  }

  /** Put an offset back (e.g. no member could take it after all). */
  requeue(offset: number, notBefore: number): void {
    this.redeliver.push({ offset, notBefore })
  }

  /** Mark an offset done (acked, dead-lettered, or gone from the log) and move the floor. */
  settle(offset: number): void {
    this.drop(offset)
    this.markSettled(offset)
  }

  /** Forget an offset's slot, if it has one, giving its holder's credit back. */
  private drop(offset: number): void {
    const holder = this.slots.holder(offset)
    if (holder !== undefined) this.dropHeld(offset, holder)
    else this.slots.delete(offset)
  }

  /** Forget the slot of an offset `holder` holds, giving its credit back. */
  private dropHeld(offset: number, holder: Member): void {
    holder.inFlight--
    this.held--
    this.slots.delete(offset)
  }

  /** `holder` no longer holds `offset` (the slot and its count stay). */
  private unhold(offset: number, holder: Member): void {
    holder.inFlight--
    this.slots.hold(offset, undefined, 0)
    this.held--
  }

  /** Record `offset` as settled (nobody holds it) and move the floor. */
  private markSettled(offset: number): void {
    if (offset < this.floor) return
    this.dirty = true
    if (offset === this.floor) {
      // In-order settling, the common case: move the floor without touching the set.
      this.floor++
      if (this.settled.size > 0) {
        while (this.settled.delete(this.floor)) this.floor++
      }
    } else this.settled.add(offset)
    if (this.next < this.floor) this.next = this.floor
  }

  /**
   * Settle (ack) every offset of `ranges` ([first, count] pairs) that `member`
   * holds now; returns how many. Acks of anything else are stale and count
   * nothing. Bounded as `visitHeld` says.
   */
  ackHeld(member: Member, ranges: readonly number[]): number {
    return this.visitHeld(member, ranges)
  }

  private readonly ackSlot = (offset: number): void => {
    this.drop(offset)
    this.markSettled(offset)
  }

  /**
   * Call `visit` for each offset of `ranges` ([first, count] pairs) that
   * `member` holds, in the order named; returns how many it found. `visit`
   * returns false for an offset this ACK already dealt with (an offset named
   * twice that is still held: a repeated `progress`), which is not counted
   * again. Without `visit` each offset found is acked, inline: that is the
   * hot path (a callback per message measured 1% more instructions in S1's
   * worker turn). Ranges are not sorted or merged: that would cost
   * O(r log r) per frame, more than the walk.
   *
   * An ACK names offsets, but only what the member holds can change, and a
   * 35-byte ACK can name 100,000 offsets: so the work is bounded by the
   * deliveries actually outstanding, not by what the frame names.
   * - Each range is clipped to [floor, next): below the floor everything is
   *   settled, at or above `next` nothing was ever delivered. (Every slot lies
   *   in that window: truncateTo drops the slots below a new floor.)
   * - The walk stops once it has found as many offsets as the member held when
   *   the ACK arrived (`member.inFlight` then): nothing further can match. A
   *   member holding nothing costs nothing.
   * - A clipped range longer than the slot table is matched by walking the slots
   *   instead of the offsets (then sorted, so a range is visited in offset
   *   order either way, and dead letters are written in the order named).
   * So one range costs at most min(offsets named, next - floor, slots).
   * `visit` may settle or release the offset it is given, nothing else.
   */
  visitHeld(member: Member, ranges: readonly number[], visit?: (offset: number, count: number) => boolean | void): number {
    const holding = member.inFlight
    if (holding === 0) return 0
    let found = 0
    for (let i = 0; i < ranges.length && found < holding; i += 2) {
      const lo = Math.max(ranges[i]!, this.floor)
      const hi = Math.min(ranges[i]! + ranges[i + 1]!, this.next)
      if (hi - lo > this.slots.size) {
        found += this.visitHeldBySlots(member, lo, hi, holding - found, visit ?? this.ackSlot)
        continue
      }
      for (let o = lo; o < hi; o++) {
        if (this.slots.holder(o) !== member) continue
        if (visit === undefined) {
          this.dropHeld(o, member)
          this.markSettled(o)
        } else if (visit(o, this.slots.count(o)) === false) continue
        if (++found === holding) break
      }
    }
    return found
  }

  /** visitHeld for a range wider than the slot table: collect the member's slots in [lo, hi) first, then visit them in order. */
  private visitHeldBySlots(member: Member, lo: number, hi: number, most: number, visit: (offset: number, count: number) => boolean | void): number {
    const offsets: number[] = []
    this.slots.forEach((o) => {
      if (offsets.length < most && o >= lo && o < hi && this.slots.holder(o) === member) offsets.push(o)
    })
    offsets.sort((a, b) => a - b)
    let found = 0
    for (const o of offsets) {
      if (this.slots.holder(o) !== member || visit(o, this.slots.count(o)) === false) continue
      found++
    }
    return found
  }

  /** Release a held offset for redelivery after `delayMs`; returns its delivery count. */
  release(offset: number, notBefore: number): number {
    const holder = this.slots.holder(offset)
    if (holder === undefined) return 0
    this.unhold(offset, holder)
    this.redeliver.push({ offset, notBefore })
    return this.slots.count(offset)
  }

  /** Restart a held offset's ack timer; false when it was not held or this very moment's extension already happened. */
  extend(offset: number, now: number): boolean {
    const holder = this.slots.holder(offset)
    if (holder === undefined) return false
    const deadline = now + holder.ackTimeoutMs
    if (this.slots.deadline(offset) === deadline) return false
    this.slots.hold(offset, holder, deadline)
    return true
  }

  /** In-flight offsets whose ack deadline passed; they are released from their members. */
  expired(now: number): Expired[] {
    const out: Expired[] = []
    if (this.held === 0) return out
    this.slots.forEach((offset) => {
      const member = this.slots.holder(offset)
      if (member === undefined || this.slots.deadline(offset) > now) return
      this.unhold(offset, member)
      out.push({ offset, count: this.slots.count(offset), member })
    })
    return out
  }

  /** The log lost offsets below `start` (retention): nothing there can be delivered. */
  truncateTo(start: number): void {
    if (this.floor >= start) return
    for (const o of [...this.settled]) if (o < start) this.settled.delete(o)
    // Offsets now gone are forgotten, held ones too (their members get the credits back; a later
    // ack of one is stale): so every slot lies at or above the floor, which lets visitHeld clip there.
    for (const o of this.slots.offsets()) if (o < start) this.drop(o)
    this.redeliver = this.redeliver.filter((w) => w.offset >= start)
    this.floor = start
    while (this.settled.has(this.floor)) {
      this.settled.delete(this.floor)
      this.floor++
    }
    if (this.next < this.floor) this.next = this.floor
    this.dirty = true
  }
}

