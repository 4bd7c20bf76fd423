/**
 * A partition log's syncs under the worker's fsync policy, and the replies
 * that wait for them (group commit).
 *
 * - 'always': one fdatasync at a time, on the libuv pool (PartitionLog.syncAsync),
 *   started at the end of a turn when something was written; it covers what
 *   was written before it began, and what is written meanwhile waits for the
 *   next. Its end schedules a turn (`onEnded`), which gives the replies it
 *   covered and starts the next sync. A failed sync fails the replies waiting
 *   and is tried again the next turn; nothing past durableOffset is delivered
 *   until a sync covers it (replication.ts readableEnd).
 * - 'interval' / 'never': the worker's timer calls syncNow(); what was written
 *   counts as stored at once.
 */
import type { PartitionLog } from '../storage/partition-log.js'
import { storageError } from '../storage/storage-error.js'
import type { ErrorName } from '../../protocol/errors.js'
import type { WorkerContext } from './context.js'

/** An append waiting for the sync (replicated: the high watermark) that covers it; `end` is the offset after its batch. */
export type PendingConfirm = { id: number; baseOffset: number; end: number }
/** A follower's append of its leader's batches, answered once what it wrote up to `end` is stored. */
export type PendingAppend = { id: number; end: number }

export class LogSyncer {
  /** Confirms waiting for the sync that covers them. */
  confirms: PendingConfirm[] = []
  /** Follower: appends waiting for the sync that covers them. */
  appends: PendingAppend[] = []
  /** Written since the last sync began. */
  private unsynced = false
  /** The fdatasync running on the pool; settles when it ends. */
  private syncing: Promise<void> | undefined

  constructor(
    private readonly log: PartitionLog,
    private readonly ctx: WorkerContext,
    private readonly where: { topic: string; partition: number },
    /** A sync ended: what it covered may be given and delivered. */
    private readonly onEnded: () => void,
  ) {}

  private get always(): boolean {
    return this.ctx.fsync.mode === 'always'
  }

  /** Offsets below this count as stored here: with fsync 'always' what a sync covered, else what was written. */
  get storedEnd(): number {
    return this.always ? this.log.durableOffset : this.log.endOffset
  }

  /** The fdatasync running on the pool, if one is. */
  get running(): Promise<void> | undefined {
    return this.syncing
  }

  /** Something was written that a sync must cover. */
  markUnsynced(): void {
    this.unsynced = true
  }

  /**
   * A confirmed append ending at `end`: true when its confirm must wait for a
   * sync (queued here), false when it may be given now. A resent batch may be
   * covered already; it still waits behind earlier confirms, so replies keep
   * their order.
   */
  confirmWaits(id: number, baseOffset: number, end: number): boolean {
    if (!this.always || (end <= this.log.durableOffset && this.confirms.length === 0)) return false
    this.confirms.push({ id, baseOffset, end })
    return true
  }

  /** End of turn, fsync 'always': start a sync when something was written and none runs. */
  startIfDue(): void {
    if (this.always && this.unsynced && !this.syncing) this.start()
  }

  /** Give the confirms the syncs so far cover. */
  confirmStored(): void {
    if (this.confirms.length === 0) return
    const stored = this.storedEnd
    const waiting: PendingConfirm[] = []
    for (const c of this.confirms) {
      if (c.end <= stored) this.ctx.outbox.done(c.id, c.baseOffset)
      else waiting.push(c)
    }
    this.confirms = waiting
  }

  /** Take the confirms waiting (a replicated partition hands them to the high watermark). */
  takeConfirms(): PendingConfirm[] {
    const taken = this.confirms
    this.confirms = []
    return taken
  }

  /** For the interval and never policies: sync whatever was written, on this thread. */
  syncNow(): void {
    if (!this.unsynced) return
    const started = performance.now()
    this.log.sync()
    this.ctx.metrics.fsync((performance.now() - started) / 1000)
    this.unsynced = false
  }

  private start(): void {
    this.unsynced = false
    const started = performance.now()
    const ended = (err: Error | null) => {
      this.syncing = undefined
      this.ctx.metrics.fsync((performance.now() - started) / 1000)
      if (err) this.failed(err)
      this.onEnded()
    }
    this.syncing = new Promise<void>((resolve) => {
      try {
        this.log.syncAsync((err) => {
          ended(err)
          resolve()
        })
      } catch (err) {
        // Could not even start (no file handle left, a closed log): the same as a failed sync.
        resolve()
        queueMicrotask(() => ended(err as Error))
      }
    })
  }

  /**
   * The partition stops being served here (dropped, or no longer followed):
   * every reply still waiting for a sync is answered with this error now. A
   * follower's fetcher waits for its append's answer before it fetches
   * again, for every partition it follows at that leader: left unanswered,
   * it would stall them all.
   */
  abandon(code: ErrorName, message: string): void {
    const { outbox } = this.ctx
    for (const c of this.confirms) outbox.fail(c.id, code, message)
    for (const a of this.appends) outbox.fail(a.id, code, message)
    this.confirms = []
    this.appends = []
  }

  /**
   * A failed fsync (a full or failing disk) fails the replies waiting for it
   * instead of the worker: the batches stay in the log and the next turn
   * tries again.
   */
  private failed(err: Error): void {
    const e = storageError(err)
    const { outbox } = this.ctx
    this.unsynced = true
    for (const c of this.confirms) outbox.fail(c.id, e.codeName, e.message)
    this.confirms = []
    for (const a of this.appends) outbox.fail(a.id, e.codeName, e.message)
    this.appends = []
    outbox.log({ level: 'error', msg: 'log sync failed', topic: this.where.topic, partition: this.where.partition, code: e.codeName, err: e.message })
  }
}
