/**
 * A partition as its owning worker sees it: the log, and every consumer
 * group's cursor on it. Appends are written at once and confirmed at the end
 * of the turn after one fsync for the whole turn (group commit); deliveries go
 * out after that sync, so a consumer never sees a record that could be lost.
 */
import { PartitionLog, type LogRecord } from '../storage/partition-log.js'
import { loadGroupState, listGroupStates } from '../storage/group-state.js'
import { deadLetterTopicOf, type AckKind, type StartPosition } from '../../protocol/index.js'
import { groupsDir, partitionDir } from '../topic-store.js'
import type { ToWorker, TopicConfig } from '../thread-messages.js'
import { GroupCursor, type Member } from './group-cursor.js'
import { deadLetterRecord, type DeadLetterReason } from './dead-letter.js'
import { DedupWindow, DEDUP_WINDOW_MS } from './dedup-window.js'
import { SkiffError } from '../../protocol/errors.js'
import { storageError } from './storage-error.js'
import { GroupSaver } from './group-saver.js'
import { toBack } from './outbox.js'
import type { WorkerContext } from './context.js'
import type { PartitionCounters } from '../observability/worker-metrics.js'

/** Bytes read from the log for one group in one pump. */
const READ_BYTES = 1024 * 1024
/** Reads per group per pump (each up to READ_BYTES) before the rest waits for the next turn. */
const PUMP_READS = 4
/** How long a message whose dead letter could not be written waits before it is tried again. */
const DEAD_LETTER_RETRY_MS = 1000

/** A member joining a group on this partition: the 'sub' op without its routing fields. */
export type SubscribeSpec = Omit<Extract<ToWorker, { t: 'sub' }>, 't' | 'id' | 'topic' | 'partition'>

export class Partition {
  readonly log: PartitionLog
  private readonly cursors = new Map<string, GroupCursor>()
  private readonly groupsPath: string
  /** Reply ids of appends waiting for the sync that covers them. */
  private confirms: { id: number; baseOffset: number }[] = []
  private unsynced = false
  /** The pumped cursor's deliveries so far, added to its group's metrics once per pump, not per message. */
  private delivered = 0
  private redelivered = 0
  /** Saves the groups' positions (group-saver.ts). */
  private readonly saver: GroupSaver
  private readonly dedup = new DedupWindow()
  /** Metric counts of this partition's events (observability/worker-metrics.ts). */
  private readonly counters: PartitionCounters
  needsPump = false

  constructor(
    readonly config: TopicConfig,
    readonly partition: number,
    private readonly ctx: WorkerContext,
  ) {
    this.groupsPath = groupsDir(ctx.dataDir, config.topic, partition)
    this.saver = new GroupSaver(this.groupsPath, (e) => ctx.outbox.log({ topic: config.topic, partition, ...e }))
    this.counters = ctx.metrics.partition(config.topic)
    this.log = PartitionLog.open({
      dir: partitionDir(ctx.dataDir, config.topic, partition),
      segmentBytes: config.segmentBytes,
      retentionMs: config.retentionMs,
      retentionBytes: config.retentionBytes,
      log: (e) => ctx.outbox.log({ topic: config.topic, partition, ...e }),
    })
    const now = Date.now()
    this.dedup.restore(this.log.producerBatches(this.log.offsetForTimestamp(now - DEDUP_WINDOW_MS)), now)
  }

  get topic(): string {
    return this.config.topic
  }

  /**
   * Append a batch. A batch from an idempotent producer that is already in the
   * window is not stored again: it is confirmed with its original offset (after
   * the same sync as a new append, in case the original is not yet durable).
   */
  append(id: number, records: Uint8Array, count: number, confirm: boolean, producerId?: number, sequence?: number): void {
    const idempotent = producerId !== undefined && producerId > 0 && sequence !== undefined
    const prior = idempotent ? this.dedup.get(producerId, sequence) : undefined
    let baseOffset: number
    if (prior) {
      if (prior.count !== count) {
        throw new SkiffError('INVALID_REQUEST', `producer ${producerId} reused sequence ${sequence} for a different batch (${count} records, was ${prior.count})`)
      }
      baseOffset = prior.baseOffset
    } else {
      const now = Date.now()
      baseOffset = this.log.append(records, count, now, producerId, sequence)
      this.counters.appended(count)
      if (idempotent) this.dedup.add(producerId, sequence, baseOffset, count, now)
      this.unsynced = true
      this.needsPump = true
    }
    if (!confirm) return
    if (this.ctx.fsync.mode === 'always' && (this.unsynced || this.confirms.length > 0)) this.confirms.push({ id, baseOffset })
    else this.ctx.outbox.done(id, baseOffset)
  }

  /**
   * End of turn: one fsync for everything appended this turn, then the confirms.
   * A failed fsync (a full or failing disk) fails this turn's confirms instead of
   * the worker: the batches stay in the log, `unsynced` stays set so the next
   * turn tries again, and nothing is delivered until a sync covers it (pump).
   */
  commit(): void {
    if (this.ctx.fsync.mode !== 'always') return
    if (this.unsynced) {
      try {
        this.timedSync()
      } catch (err) {
        const e = storageError(err)
        for (const c of this.confirms) this.ctx.outbox.fail(c.id, e.codeName, e.message)
        this.confirms = []
        this.ctx.outbox.log({ level: 'error', msg: 'log sync failed', topic: this.topic, partition: this.partition, code: e.codeName, err: e.message })
        return
      }
      this.unsynced = false
    }
    for (const c of this.confirms) this.ctx.outbox.done(c.id, c.baseOffset)
    this.confirms = []
  }

  /** For the interval and never policies: sync whatever was written. */
  syncNow(): void {
    if (!this.unsynced) return
    this.timedSync()
    this.unsynced = false
  }

  private timedSync(): void {
    const started = performance.now()
    this.log.sync()
    this.ctx.metrics.fsync((performance.now() - started) / 1000)
  }

  subscribe(s: SubscribeSpec): void {
    const cursor = this.cursor(s.group, s.start, s.startValue)
    const member: Member = {
      conn: s.conn,
      sub: s.sub,
      maxInFlight: s.maxInFlight,
      inFlight: 0,
      ackTimeoutMs: s.ackTimeoutMs,
      maxDeliveries: s.maxDeliveries,
      ackNone: s.ackNone,
      congested: this.ctx.congested.has(s.conn),
    }
    cursor.addMember(member)
    this.needsPump = true
  }

  unsubscribe(conn: number, sub: number, group: string): void {
    if (this.cursors.get(group)?.removeMember(conn, sub, Date.now())) this.needsPump = true
  }

  /** A connection's socket backed up or drained (WorkerContext.congested); a drained one is pumped again. */
  setCongested(conn: number, on: boolean): void {
    for (const c of this.cursors.values()) {
      for (const m of c.members) {
        if (m.conn !== conn || m.congested === on) continue
        m.congested = on
        if (!on) this.needsPump = true
      }
    }
  }

  connectionGone(conn: number): void {
    const now = Date.now()
    for (const c of this.cursors.values()) {
      const before = c.members.length
      c.removeConnection(conn, now)
      if (c.members.length !== before) this.needsPump = true
    }
  }

  /** Settle a member's messages; `ranges` are [firstOffset, count] pairs. */
  settle(conn: number, sub: number, group: string, kind: AckKind, ranges: number[], delayMs: number): void {
    const cursor = this.cursors.get(group)
    const member = cursor?.member(conn, sub)
    if (!cursor || !member) return
    if (member.ackNone) {
      // Nothing is held: acks of any kind only give credits back (work: one addition per range).
      let n = 0
      for (let i = 1; i < ranges.length; i += 2) n += ranges[i]!
      member.inFlight = Math.max(0, member.inFlight - n)
      this.needsPump = true
      return
    }
    // The work is bounded by what the member holds, not by the offsets the ACK names
    // (GroupCursor.visitHeld); an ACK that settles nothing does not wake the pump either.
    if (kind === 'ack') {
      // The hot path: stale acks (redelivered elsewhere, already settled) count nothing.
      const acked = cursor.ackHeld(member, ranges)
      if (acked > 0) {
        this.counters.acked(cursor.group, acked)
        this.needsPump = true
      }
      return
    }
    const now = Date.now()
    const found = cursor.visitHeld(member, ranges, (offset, held) => {
      // A progress naming an offset twice extends it once (false: not counted again).
      if (kind === 'progress') return cursor.extend(offset, now)
      if (kind === 'term') this.deadLetter(cursor, offset, held.count, 'term')
      else if (held.count >= member.maxDeliveries) this.deadLetter(cursor, offset, held.count, 'max-deliveries')
      else cursor.release(offset, now + delayMs)
      return true
    })
    if (found > 0) this.needsPump = true
  }

  /** Ack deadlines: expired messages are redelivered, or dead-lettered after max deliveries. */
  expire(now: number): void {
    for (const cursor of this.cursors.values()) {
      if (cursor.inFlight > 0) {
        for (const e of cursor.expired(now)) {
          if (e.count >= e.member.maxDeliveries) this.deadLetter(cursor, e.offset, e.count, 'max-deliveries')
          else cursor.requeue(e.offset, now)
          this.needsPump = true
        }
      }
      if (cursor.members.length > 0 && cursor.hasDueRedelivery(now)) this.needsPump = true
    }
  }

  /** Hand out what the groups' credits allow. */
  /** Returns true when it stopped at its per-turn budget with more to deliver. */
  pump(now: number): boolean {
    // After a failed fsync (commit), what the log holds may not be durable: deliver nothing until a sync succeeds.
    if (this.unsynced && this.ctx.fsync.mode === 'always') return false
    this.needsPump = false
    let budgetHit = false
    let visited = 0
    for (const cursor of this.cursors.values()) {
      if (cursor.members.length === 0) {
        visited++
        continue
      }
      if (this.ctx.outbox.turnFull) {
        // The worker's deliveries for this turn are spent (outbox.ts TURN_DELIVERY_BYTES):
        // the groups served go to the back, so those left over go first next turn.
        toBack(this.cursors, visited)
        this.needsPump = true
        return true
      }
      visited++
      if (cursor.floor < this.log.startOffset) cursor.truncateTo(this.log.startOffset)
      let credits = cursor.credits()
      this.delivered = this.redelivered = 0
      for (const offset of cursor.takeDue(now, credits)) {
        const rec = this.readOne(offset)
        if (!rec) {
          cursor.settle(offset) // gone from the log (retention or damage): nothing to deliver
          continue
        }
        if (!this.send(cursor, rec, now)) {
          cursor.requeue(offset, now)
          break
        }
        credits--
      }
      // At most PUMP_READS reads per group per turn: a consumer with many credits
      // and a deep backlog is served over several turns, so one turn never holds
      // more than a few MiB of deliveries in memory.
      let reads = 0
      while (credits > 0 && cursor.canTakeFresh() && cursor.next < this.log.endOffset) {
        if (reads++ === PUMP_READS || this.ctx.outbox.turnFull) {
          this.needsPump = true
          budgetHit = true
          break
        }
        const recs = this.log.read(cursor.next, credits, READ_BYTES)
        if (recs.length === 0) {
          // Unreadable up to the end (damaged tail): those offsets can never be delivered.
          while (cursor.next < this.log.endOffset) cursor.settle(cursor.next++)
          break
        }
        for (const rec of recs) {
          while (cursor.next < rec.offset) cursor.settle(cursor.next++) // offsets lost to damage
          cursor.next = rec.offset + 1
          if (cursor.settled.has(rec.offset)) continue // acked before a restart
          if (!this.send(cursor, rec, now)) {
            cursor.next = rec.offset
            credits = 0
            break
          }
          credits--
          if (credits === 0) break
        }
      }
      if (this.delivered > 0) this.counters.delivered(cursor.group, this.delivered, this.redelivered)
    }
    return budgetHit
  }

  /** Hand a record to the member the cursor picks; false when no member has a credit. */
  private send(cursor: GroupCursor, rec: LogRecord, now: number): boolean {
    const member = cursor.assign(rec.offset, now)
    if (!member) return false
    const count = cursor.assignedCount
    this.ctx.outbox.deliver(member, this.partition, rec, count)
    this.delivered++
    if (count > 1) this.redelivered++
    return true
  }

  private readOne(offset: number): LogRecord | undefined {
    const rec = this.log.read(offset, 1, 1)[0]
    return rec && rec.offset === offset ? rec : undefined
  }

  private deadLetter(cursor: GroupCursor, offset: number, deliveries: number, reason: DeadLetterReason): void {
    const rec = this.readOne(offset)
    if (rec) {
      const record = deadLetterRecord(rec.record, {
        topic: this.topic,
        partition: this.partition,
        offset,
        group: cursor.group,
        deliveries,
        reason,
      })
      try {
        this.ctx.partition(deadLetterTopicOf(this.topic), this.partition, this.config).append(0, record, 1, false)
      } catch (err) {
        // Not dead-lettered (a full disk, say): it must not be settled either. It goes back for
        // redelivery after a pause and is dead-lettered on a later attempt.
        const retryAt = Date.now() + DEAD_LETTER_RETRY_MS
        if (cursor.isHeld(offset)) cursor.release(offset, retryAt)
        else cursor.requeue(offset, retryAt)
        const e = storageError(err)
        this.ctx.outbox.log({ level: 'warn', msg: 'dead letter not written, will retry', topic: this.topic, partition: this.partition, offset, group: cursor.group, code: e.codeName, err: e.message })
        return
      }
      this.counters.deadLettered(cursor.group)
      this.ctx.outbox.log({ level: 'info', msg: 'dead-lettered', topic: this.topic, partition: this.partition, offset, group: cursor.group, reason, deliveries })
    }
    cursor.settle(offset)
  }

  private cursor(group: string, start: StartPosition, startValue: number | undefined): GroupCursor {
    let c = this.cursors.get(group)
    if (c) return c
    const snap = loadGroupState(this.groupsPath, group, (e) => this.ctx.outbox.log({ topic: this.topic, partition: this.partition, group, ...e }))
    // State files that exist but cannot be read: the group had a position and we lost it. Starting
    // where the subscriber asks ('latest') could skip unacked messages; the start of the log redelivers
    // instead (at-least-once), never skips.
    const lost = !snap && listGroupStates(this.groupsPath).includes(group)
    if (lost) this.ctx.outbox.log({ level: 'warn', msg: 'group state lost: redelivering from the start of the log', topic: this.topic, partition: this.partition, group, startOffset: this.log.startOffset })
    c = new GroupCursor(group, lost ? this.log.startOffset : this.startOffset(start, startValue), snap)
    this.cursors.set(group, c)
    return c
  }

  private startOffset(start: StartPosition, value: number | undefined): number {
    const { startOffset, endOffset } = this.log
    if (start === 'earliest') return startOffset
    if (start === 'offset') return Math.min(Math.max(value ?? 0, startOffset), endOffset)
    if (start === 'timestamp') return this.log.offsetForTimestamp(value ?? 0)
    return endOffset
  }

  /** Write every changed group position, on the libuv pool (group-saver.ts); called on a timer. */
  saveGroupsAsync(): void {
    this.saver.saveAsync(this.cursors.values())
  }

  /** Saves still in flight (they must finish before close() saves synchronously). */
  savesInFlight(): Promise<unknown> {
    return this.saver.inFlight()
  }

  describe(): Record<string, unknown> {
    return { partition: this.partition, ...this.log.stats() }
  }

  groups(): string[] {
    const names = new Set(this.cursors.keys())
    for (const g of listGroupStates(this.groupsPath)) names.add(g)
    return [...names]
  }

  /** Lag of every group with a live cursor here (for the metrics gauges). */
  groupLags(): [string, number][] {
    const end = this.log.endOffset
    return [...this.cursors.values()].map((c) => [c.group, c.lag(end)])
  }

  describeGroup(group: string): Record<string, unknown> | null {
    const live = this.cursors.get(group)
    const snap = live ? undefined : loadGroupState(this.groupsPath, group)
    if (!live && !snap) return null
    const c = live ?? new GroupCursor(group, 0, snap)
    const end = this.log.endOffset
    return {
      partition: this.partition,
      committed: c.floor,
      next: live ? c.next : snap!.next,
      endOffset: end,
      lag: c.lag(end),
      inFlight: c.inFlight,
      members: c.members.length,
    }
  }

  applyRetention(now: number): void {
    if (this.log.applyRetention(now) > 0) this.needsPump = true
  }

  close(): void {
    this.saver.saveNow(this.cursors.values())
    this.log.close()
    this.saver.stopped = true
  }

  destroy(): void {
    this.saver.stopped = true
    this.log.destroy()
    this.cursors.clear()
  }
}
