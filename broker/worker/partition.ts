/**
 * A partition as its owning worker sees it: the log, and every consumer
 * group's cursor on it. Appends are written at once and confirmed once they
 * are stored: with fsync 'always', once an fdatasync covers them, run on the
 * libuv pool while the worker goes on (group commit: log-syncer.ts).
 * Deliveries read only below what is stored, so a consumer never sees a
 * record that could be lost, and go out after their delivery-journal entry is
 * written, so their counts survive a crash (storage/delivery-journal.ts).
 *
 * Opening a partition recovers it: the log (storage), then every group that
 * has state on disk (group-recovery.ts), reported in one line and in metrics
 * (recovery-report.ts).
 */
import { groupLags, startPosition } from './partition-views.js'
import { existsSync } from 'node:fs'
import { PartitionLog, type LogRecord } from '../storage/partition-log.js'
import type { DeliveryJournal } from '../storage/delivery-journal.js'
import type { AckKind } from '../../protocol/index.js'
import { groupsDir, partitionDir } from '../topic-store.js'
import type { ToWorker, TopicConfig } from '../thread-messages.js'
import { GroupCursor, type Assignment, type Expired, type Member } from './group-cursor.js'
import { recoverGroups } from './group-recovery.js'
import { reportRecovery } from './recovery-report.js'
import { DeadLetterer, type DeadLetterReason } from './dead-letter.js'
import { DedupWindow, DEDUP_WINDOW_MS } from './dedup-window.js'
import { PublishFences } from '../publish-fences.js'
import { SkiffError } from '../../protocol/errors.js'
import { storageError } from '../storage/storage-error.js'
import { GroupSaver } from './group-saver.js'
import { DeliveryTally } from './delivery-tally.js'
import { toBack } from './outbox.js'
import type { Replica } from './replica.js'
import { advanceHw, readableEnd, settleReplicated } from './replication.js'
import { LogSyncer } from './log-syncer.js'
import type { WorkerContext } from './context.js'
import type { PartitionCounters } from '../observability/worker-metrics.js'

/** Bytes read from the log for one group in one pump. */
const READ_BYTES = 1024 * 1024
/** Reads per group per pump (each up to READ_BYTES) before the rest waits for the next turn. */
const PUMP_READS = 4

/** A member joining a group on this partition: the 'sub' op without its routing fields. */
export type SubscribeSpec = Omit<Extract<ToWorker, { t: 'sub' }>, 't' | 'id' | 'topic' | 'partition'>

export class Partition {
  readonly log: PartitionLog
  /** Every group's cursor here, by name (partition-admin.ts changes them too). */
  readonly cursors = new Map<string, GroupCursor>()
  private readonly groupsPath: string
  /** Syncs of the log and the replies waiting for them (log-syncer.ts). */
  readonly syncer: LogSyncer
  /** Cluster mode, a partition with copies on other brokers: its role here (replica.ts); undefined otherwise. */
  replica: Replica | undefined
  /** What the pumped group was handed this pump (delivery-tally.ts). */
  private readonly tally = new DeliveryTally()
  /** Saves the groups' positions (group-saver.ts). */
  readonly saver: GroupSaver
  /** What each group delivered since its snapshot (storage/delivery-journal.ts). */
  private readonly journal: DeliveryJournal
  /** A failed journal write is logged once per streak. */
  private journalFailing = false
  readonly dedup = new DedupWindow()
  /** A replicated copy's producers whose batch was refused retriably: their later batches wait behind it (publish-fences.ts). */
  private fences: PublishFences | undefined
  /** Metric counts of this partition's events (observability/worker-metrics.ts). */
  private readonly counters: PartitionCounters
  private readonly deadLetters: DeadLetterer
  needsPump = false
  /** Where the pump's last assign() put a record (reused: no object per message). */
  private readonly assignment: Assignment = { member: undefined, count: 0 }

  constructor(
    /** Replaced by TOPIC_ALTER (reconfigure). */
    public config: TopicConfig,
    readonly partition: number,
    private readonly ctx: WorkerContext,
  ) {
    const started = performance.now()
    const emit = (e: Record<string, unknown>) => ctx.outbox.log({ topic: config.topic, partition, ...e })
    const dir = partitionDir(ctx.dataDir, config.topic, partition)
    const existed = existsSync(dir)
    this.groupsPath = groupsDir(ctx.dataDir, config.topic, partition)
    this.counters = ctx.metrics.partition(config.topic)
    this.deadLetters = new DeadLetterer(this, ctx, this.counters)
    this.log = PartitionLog.open({ dir, segmentBytes: config.segmentBytes, retentionMs: config.retentionMs, retentionBytes: config.retentionBytes, log: emit })
    this.syncer = new LogSyncer(this.log, ctx, { topic: config.topic, partition }, () => {
      this.needsPump = true
      ctx.outbox.schedule()
    })
    const now = Date.now()
    this.dedup.restore(this.log.producerBatches(this.log.offsetForTimestamp(now - DEDUP_WINDOW_MS)), now)
    const groups = recoverGroups(this.groupsPath, this.log, emit)
    for (const c of groups.cursors) this.cursors.set(c.group, c)
    this.journal = groups.journal
    this.saver = new GroupSaver(this.groupsPath, emit, groups.journal, groups.manifest, groups.files)
    if (!existed) return
    const { startOffset, endOffset } = this.log
    const recovery = { topic: config.topic, partition, log: this.log.recovery, startOffset, endOffset, groups: groups.cursors.length }
    reportRecovery({ ...recovery, groupsClamped: groups.clamped, groupsReset: groups.reset, ms: performance.now() - started }, emit, ctx.metrics)
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
    if (this.replica) this.checkWritable(idempotent ? producerId : undefined, sequence)
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
      this.syncer.markUnsynced()
      this.needsPump = true
    }
    if (!confirm) return
    const end = baseOffset + count
    // A replicated partition confirms once the high watermark passes the batch; otherwise once it is stored (log-syncer.ts).
    if (this.replica) this.syncer.confirms.push({ id, baseOffset, end })
    else if (!this.syncer.confirmWaits(id, baseOffset, end)) this.ctx.outbox.done(id, baseOffset)
  }

  /**
   * End of turn: start the sync of what was appended (log-syncer.ts), and
   * give the confirms what is stored covers (replicated: the high watermark).
   */
  commit(): void {
    this.syncer.startIfDue()
    if (this.replica) settleReplicated(this, this.syncer.takeConfirms(), this.ctx.outbox)
    else this.syncer.confirmStored()
  }

  /** Move the high watermark (a sync, or a follower's acknowledgement): replication.ts advanceHw. */
  advanceHw(): void {
    advanceHw(this, this.ctx.outbox)
  }

  /** Offsets below this may be handed to consumers (replication.ts readableEnd). */
  get readableEnd(): number {
    return readableEnd(this)
  }

  /** For the interval and never policies: sync whatever was written. */
  syncNow(): void {
    this.syncer.syncNow()
  }

  /** The subscription's member joins this partition: the one its other partitions on this worker have, sharing their credits (WorkerContext.members). */
  subscribe(s: SubscribeSpec): void {
    const cursor = this.cursor(s)
    let member = this.ctx.members.get(s.creditPool)
    if (!member) {
      member = {
        conn: s.conn,
        sub: s.sub,
        maxInFlight: s.maxInFlight,
        inFlight: 0,
        ackTimeoutMs: s.ackTimeoutMs,
        maxDeliveries: s.maxDeliveries,
        ackNone: s.ackNone,
        congested: this.ctx.congested.has(s.conn),
      }
      this.ctx.members.set(s.creditPool, member)
    }
    cursor.addMember(member)
    this.needsPump = true
  }

  unsubscribe(conn: number, sub: number, group: string): void {
    const cursor = this.cursors.get(group)
    const taken = cursor?.removeMember(conn, sub)
    if (!taken) return
    this.takeBack(cursor!, taken, Date.now())
    this.dropIfEphemeral(cursor!)
    this.needsPump = true
  }

  /** An ephemeral group ends with its (only) member: what it held was taken back above, and is forgotten with it. */
  private dropIfEphemeral(cursor: GroupCursor): void {
    if (cursor.ephemeral && cursor.members.length === 0 && this.cursors.get(cursor.group) === cursor) this.cursors.delete(cursor.group)
  }

  /** A connection's socket backed up or drained (WorkerContext.congested); a drained one is pumped again. */
  setCongested(conn: number, on: boolean): void {
    for (const c of this.cursors.values()) {
      for (const m of c.members) {
        if (m.conn !== conn) continue
        // A member is shared by the subscription's partitions here: another may have flipped it already.
        m.congested = on
        if (!on) this.needsPump = true
      }
    }
  }

  connectionGone(conn: number): void {
    const now = Date.now()
    for (const c of this.cursors.values()) {
      const before = c.members.length
      this.takeBack(c, c.removeConnection(conn), now)
      if (c.members.length !== before) this.needsPump = true
      this.dropIfEphemeral(c)
    }
  }

  /**
   * Offsets taken back from a member (its ack deadline passed, it left or its
   * connection went): each delivery to it counted, so one whose deliveries
   * reached its maxDeliveries is dead-lettered, the rest are redelivered.
   * (A consumer killed by a message on every delivery made that message
   * come back forever before: only nack and timeouts checked the count.)
   */
  private takeBack(cursor: GroupCursor, taken: Expired[], now: number): void {
    for (const e of taken) {
      if (e.count >= e.member.maxDeliveries) this.deadLetter(cursor, e.offset, e.count, 'max-deliveries')
      else cursor.requeue(e.offset, now)
    }
    if (taken.length > 0) this.needsPump = true
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
        this.counters.acked(cursor.label, acked)
        this.needsPump = true
      }
      return
    }
    const now = Date.now()
    const found = cursor.visitHeld(member, ranges, (offset, count) => {
      // A progress naming an offset twice extends it once (false: not counted again).
      if (kind === 'progress') return cursor.extend(offset, now)
      if (kind === 'term') this.deadLetter(cursor, offset, count, 'term')
      else if (count >= member.maxDeliveries) this.deadLetter(cursor, offset, count, 'max-deliveries')
      else cursor.release(offset, now + delayMs)
      return true
    })
    if (found > 0) this.needsPump = true
  }

  /** Ack deadlines: expired messages are redelivered, or dead-lettered after max deliveries. */
  expire(now: number): void {
    for (const cursor of this.cursors.values()) {
      if (cursor.inFlight > 0) this.takeBack(cursor, cursor.expired(now), now)
      if (cursor.members.length > 0 && cursor.hasDueRedelivery(now)) this.needsPump = true
    }
  }

  /**
   * Hand out what the groups' credits allow; true when it stopped at its
   * per-turn budget with more to deliver. What was handed out is in the
   * delivery journal when it returns (the turn's message is posted after).
   */
  pump(now: number): boolean {
    this.needsPump = false
    try {
      return this.pumpGroups(now)
    } finally {
      this.writeJournal()
    }
  }

  private pumpGroups(now: number): boolean {
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
      const tally = this.tally
      tally.reset()
      for (const offset of cursor.takeDue(now, credits)) {
        const rec = this.readOne(offset)
        if (!rec) {
          cursor.settle(offset) // gone from the log (retention or damage): nothing to deliver
          continue
        }
        const sent = this.send(cursor, rec, now)
        if (sent < 0) {
          cursor.requeue(offset, now)
          break
        }
        credits -= sent
      }
      // At most PUMP_READS reads per group per turn: a consumer with many credits
      // and a deep backlog is served over several turns, so one turn never holds
      // more than a few MiB of deliveries in memory.
      let reads = 0
      const end = this.readableEnd
      while (credits > 0 && cursor.hasFresh(end)) {
        if (reads++ === PUMP_READS || this.ctx.outbox.turnFull) {
          this.needsPump = true
          budgetHit = true
          break
        }
        const recs = this.log.read(cursor.next, Math.min(credits, end - cursor.next), READ_BYTES)
        if (recs.length === 0) {
          cursor.settleUnreadable(end)
          break
        }
        for (const rec of recs) {
          if (!cursor.takeFresh(rec.offset)) continue // acked before a restart
          const sent = this.send(cursor, rec, now)
          if (sent < 0) {
            cursor.untakeFresh(rec.offset)
            credits = 0
            break
          }
          credits -= sent
          if (credits === 0) break
        }
      }
      // Out of credits with records left: a subscription's credits are shared by its partitions
      // here (WorkerContext.members), and an ack on another of them gives them back without a
      // word to this one. So it stays due, pumped again at the next turn or tick (TICK_MS),
      // not left until something happens to this partition.
      if (credits <= 0 && !budgetHit && (cursor.hasFresh(end) || cursor.hasDueRedelivery(now))) this.needsPump = true
      if (tally.delivered > 0) {
        this.counters.delivered(cursor.label, tally.delivered, tally.redelivered)
        const runs = tally.takeRuns()
        // An ephemeral group has no saved state for the journal's counts to add to.
        if (!cursor.ephemeral) this.journal.add(cursor.group, runs)
      }
    }
    return budgetHit
  }

  /**
   * Hand a record to the member the cursor picks: 1 when delivered, -1 when
   * no member has a credit, 0 when it was dead-lettered instead (its
   * deliveries had reached the member's maxDeliveries: counts that came back
   * from disk after a crash).
   */
  private send(cursor: GroupCursor, rec: LogRecord, now: number): number {
    const to = this.assignment
    if (!cursor.assign(rec.offset, now, to)) return -1
    const member = to.member! // set whenever assign() answers true
    const count = to.count
    if (count === 0) {
      this.deadLetter(cursor, rec.offset, cursor.deliveries(rec.offset), 'max-deliveries', rec)
      return 0
    }
    this.ctx.outbox.deliver(member, this.partition, rec, count)
    this.tally.add(rec.offset, count)
    return 1
  }

  /**
   * Write this pump's journal entry. A failed write (a full or failing disk)
   * does not hold the deliveries back: they are on their way already, and
   * only their counts after a crash are at stake. It is logged once per
   * streak of failures.
   */
  private writeJournal(): void {
    try {
      this.journal.flush()
    } catch (err) {
      if (!this.journalFailing) {
        const e = storageError(err)
        this.ctx.outbox.log({ level: 'warn', msg: 'delivery journal not written: delivery counts may restart lower after a crash', topic: this.topic, partition: this.partition, code: e.codeName, err: e.message })
      }
      this.journalFailing = true
      return
    }
    if (this.journalFailing) this.ctx.outbox.log({ level: 'info', msg: 'delivery journal written again', topic: this.topic, partition: this.partition })
    this.journalFailing = false
  }

  /**
   * A replicated copy takes a batch only while it may (Replica.checkWritable),
   * and an idempotent producer's batch only once the batch of it refused
   * before has come again: the gateway holds back what it has not passed on
   * yet, this what was already on its way here when the refusal was made.
   */
  private checkWritable(producerId: number | undefined, sequence: number | undefined): void {
    if (producerId === undefined || sequence === undefined) return this.replica!.checkWritable(this.topic, this.partition)
    const behind = this.fences?.check(producerId, sequence, this.topic, this.partition, Date.now())
    if (behind) throw behind
    try {
      this.replica!.checkWritable(this.topic, this.partition)
    } catch (err) {
      if (err instanceof SkiffError) (this.fences ??= new PublishFences()).refused(producerId, sequence, this.topic, this.partition, err, Date.now())
      throw err
    }
  }

  private readOne(offset: number): LogRecord | undefined {
    const rec = this.log.read(offset, 1, 1)[0]
    return rec && rec.offset === offset ? rec : undefined
  }

  private deadLetter(cursor: GroupCursor, offset: number, deliveries: number, reason: DeadLetterReason, read?: LogRecord): void {
    this.deadLetters.write(cursor, offset, deliveries, reason, read ?? this.readOne(offset))
  }

  /**
   * The group's cursor; a group new to this partition starts where its
   * subscriber asks. (Groups with state on disk were loaded at open.) A new
   * group is made durable before the SUBSCRIBE is answered (group-saver.ts;
   * this throws, and creates nothing, when it cannot be), unless it is an
   * ephemeral subscription's group (named by the gateway, one per
   * subscription), which lives in memory only.
   */
  private cursor(s: SubscribeSpec): GroupCursor {
    let c = this.cursors.get(s.group)
    if (c) return c
    c = new GroupCursor(s.group, startPosition(this.log, s.start, s.startValue))
    if (s.ephemeral === true) {
      c.ephemeral = true
      c.dirty = false
    } else {
      this.saver.create(c)
      // A new group goes to the followers with the next fetch answer, not after up to
      // GROUPS_EVERY_MS plus a held fetch: a leader lost meanwhile left a new leader without
      // it, which made the group again at its start (`latest`: records published between the
      // failover and the consumer following it were skipped).
      this.replica?.groupsChanged()
    }
    this.cursors.set(s.group, c)
    return c
  }

  /** Write every changed group position, on the libuv pool (group-saver.ts); called on a timer. */
  saveGroupsAsync(): void {
    this.saver.saveAsync(this.cursors)
  }

  /** Saves and the log sync still in flight (they must finish before close() saves and syncs synchronously). */
  savesInFlight(): Promise<unknown> {
    return Promise.all([this.saver.inFlight(), this.syncer.running])
  }

  /** Lag of every group here, for the metrics gauges (partition-views.ts). */
  groupLags(): [string, number][] {
    return groupLags(this)
  }

  applyRetention(now: number): void {
    if (this.log.applyRetention(now) > 0) this.needsPump = true
  }

  close(): void {
    this.saver.saveNow(this.cursors.values())
    this.journal.close()
    this.log.close()
    this.saver.stopped = true
  }

  destroy(): void {
    this.saver.stopped = true
    this.journal.close()
    this.log.destroy()
    // The members go on at the subscription's other partitions: what they held here is given back.
    for (const c of this.cursors.values()) c.releaseMembers()
    this.cursors.clear()
  }
}
