/**
 * One partition worker's turn, free of the thread that runs it: the ops of a
 * gateway batch (handle), the end of turn (endTurn: fsync / group commit,
 * confirms, deliveries, metrics, one message out) and the periodic work as
 * tick methods. main.ts wires parentPort and real timers to it; tests and
 * bench/micro/worker.mjs drive it in-process with a `post` of their own and,
 * for ack deadlines, a clock they move.
 */
import { describeGroup, describePartition, groupsOf, peek } from './partition-views.js'
import { storageError } from '../storage/storage-error.js'
import { parseFsync, type FsyncPolicy } from '../fsync-policy.js'
import { loadTopicConfigs } from '../topic-store.js'
import { ownerOf } from '../routing.js'
import type { FromWorker, RequestOp, Results, ToWorker, WorkerData } from '../thread-messages.js'
import { Outbox, toBack } from './outbox.js'
import { WorkerContext } from './context.js'
import { WorkerMetrics } from '../observability/worker-metrics.js'
import { deleteGroup, reconfigure, resetGroup, startGroups } from './partition-admin.js'
import { appendFromLeader, applyRole, purgePartition } from './replication.js'
import { FetchSessions } from './fetch-sessions.js'
import type { ReplicaRole } from './replica.js'
import type { LeaderFetchers } from './leader-fetchers.js'
import type { FollowerPosition } from './replica-fetcher.js'
import type { FetchedPartition } from '../../protocol/index.js'
import { SkiffError } from '../../protocol/errors.js'

const NO_GROUPS = new Uint8Array(0)

type FollowOp = Extract<ToWorker, { t: 'follow' }>

/** How often ack deadlines and delayed redeliveries are checked. */
export const TICK_MS = 50
/** How often lag, log sizes and event loop utilization are sampled for the gateway. */
export const GAUGE_MS = 1000
const LOG_EVERY_MS = 10_000

export interface PartitionWorkerOptions {
  data: WorkerData
  /** Hands one turn's ops to the gateway (main.ts packs and transfers them). */
  post: (ops: FromWorker[]) => void
  /** The time ack deadlines, deliveries and retention are measured against; Date.now by default. */
  clock?: () => number
  /** Called first by stop(): the owner ends its timers before the partitions close. */
  onStop?: () => void
}

/** A periodic task of the worker and how often the owner runs it. */
export interface WorkerTimer {
  name: string
  ms: number
  tick: () => void
}

export class PartitionWorker {
  readonly data: WorkerData
  readonly fsync: FsyncPolicy
  readonly ctx: WorkerContext
  private readonly outbox: Outbox
  private readonly metrics: WorkerMetrics
  private readonly clock: () => number
  /** Followers' fetches waiting for data (fetch-sessions.ts). */
  private readonly fetches: FetchSessions
  /**
   * This worker's fetches from the leaders of partitions it follows
   * (leader-fetchers.ts), loaded with the first 'follow' op that names a
   * leader: a single broker's workers never load the peer links (node:net,
   * node:tls), as they never load the config's checks (bench/README.md,
   * Round 14). Until it is loaded, the latest op waits in `pendingFollow`:
   * each op is the whole set, so the latest is all that counts.
   */
  private leaders: LeaderFetchers | undefined
  private leadersLoading: Promise<void> | undefined
  private pendingFollow: FollowOp | undefined
  /** Set by stop(): an answer to a fetch still in flight opens no partition again. */
  private stopping = false
  /** Followed partitions' positions since the turn's last message, for the gateway's replication stats. */
  private readonly positions = new Map<string, FollowerPosition>()
  /** The tick found counts or positions waiting: the next turn sends them, alone if need be. */
  private reportDue = false
  private readonly onStop: () => void
  /** When each guarded task last logged a failure. */
  private readonly lastLogged = new Map<string, number>()

  constructor(opts: PartitionWorkerOptions) {
    this.data = opts.data
    this.fsync = parseFsync(opts.data.fsync)
    this.clock = opts.clock ?? Date.now
    this.onStop = opts.onStop ?? (() => {})
    this.outbox = new Outbox(opts.post, opts.data.maxFrame, () => this.finishTurn())
    this.metrics = new WorkerMetrics(opts.data.workerId, () => this.outbox.schedule())
    this.ctx = new WorkerContext(opts.data.dataDir, this.fsync, this.outbox, this.metrics)
    this.fetches = new FetchSessions(this.ctx, this.outbox)
  }

  /** The periodic work, for the owner to run on real timers (retention and the interval sync only when configured). */
  timers(): WorkerTimer[] {
    const timers: WorkerTimer[] = [
      { name: 'ack deadlines', ms: TICK_MS, tick: () => this.tickAcks() },
      { name: 'gauges', ms: GAUGE_MS, tick: () => this.sampleGauges() },
      { name: 'group saver', ms: this.data.groupCommitMs, tick: () => this.saveGroups() },
    ]
    if (this.data.retentionCheckMs > 0) timers.push({ name: 'retention', ms: this.data.retentionCheckMs, tick: () => this.applyRetention() })
    if (this.fsync.mode === 'interval') timers.push({ name: 'sync', ms: this.fsync.ms, tick: () => this.syncInterval() })
    return timers
  }

  /**
   * Open every partition this worker owns, so that each recovers (its log, its
   * groups) and reports what it found now, at start, rather than at its first
   * use, which could be days later or never (a clamped or lost group would go
   * unreported until then). Then the first gauge sample (the lag of every
   * recovered group is on /metrics from "listening" on) and one message with
   * all of it: the gateway handles it before it says the broker is listening.
   * A partition that cannot be opened is reported and left closed: a later
   * request for it tries again and gets the error.
   */
  start(): void {
    const started = performance.now()
    let opened = 0
    // Directories without a readable topic.json are the gateway's to report (once, not once per worker).
    for (const config of loadTopicConfigs(this.data.dataDir, () => {})) {
      for (let p = 0; p < config.partitions; p++) {
        if (ownerOf(config.topic, p, this.data.workers) !== this.data.workerId) continue
        try {
          this.ctx.open(config, p)
          opened++
        } catch (err) {
          const e = storageError(err)
          this.outbox.log({ level: 'error', msg: 'partition not opened', topic: config.topic, partition: p, code: e.codeName, err: (err as Error)?.stack ?? String(err) })
        }
      }
    }
    if (opened > 0) this.outbox.log({ level: 'info', msg: 'partitions recovered', worker: this.data.workerId, partitions: opened, ms: Math.round(performance.now() - started) })
    this.sampleGauges()
    this.endTurn()
  }

  /** One batch of ops from the gateway; what they produce goes out at the end of the turn. */
  handle(ops: Iterable<ToWorker>): void {
    for (const op of ops) {
      try {
        this.handleOne(op)
      } catch (err) {
        const e = storageError(err) // disk-full and quota errors are STORAGE_FULL (retriable); anything else unexpected is INTERNAL
        if (e.codeName === 'INTERNAL') this.outbox.log({ level: 'error', msg: 'worker op failed', op: op.t, err: (err as Error).stack })
        if ('id' in op) this.outbox.fail(op.id, e.codeName, e.message)
      }
    }
    this.outbox.schedule()
  }

  /**
   * End the turn now: sync and confirm, deliver, then send the turn's one
   * message. Normally run by the outbox once per event-loop turn (scheduled
   * by whatever queued work); callers that drive turns by hand call it.
   */
  endTurn(): void {
    this.outbox.flush()
  }

  /**
   * For callers that drive turns by hand (tests, bench/micro): wait until no
   * partition has a sync running, ending a turn after each one ends (which
   * confirms what it covered and may start the next).
   */
  async syncsDone(): Promise<void> {
    for (;;) {
      const running = [...this.ctx.partitions.values()].flatMap((p) => (p.syncer.running ? [p.syncer.running] : []))
      if (running.length === 0) return
      await Promise.all(running)
      this.endTurn()
    }
  }

  /** Check ack deadlines and delayed redeliveries (every TICK_MS). */
  tickAcks(now = this.clock()): void {
    this.fetches.expire(now)
    // Counts and positions no message carried since the last tick go now (see finishTurn).
    this.reportDue = this.metrics.pending || this.positions.size > 0
    let any = this.reportDue
    for (const p of this.ctx.partitions.values()) {
      this.guarded('ack deadlines', () => p.expire(now))
      any ||= p.needsPump
    }
    if (any) this.outbox.schedule()
  }

  /** Lag, log sizes and event loop utilization for the gateway (every GAUGE_MS). */
  sampleGauges(): void {
    this.outbox.push({ t: 'gauges', gauges: this.metrics.gauges(this.ctx.partitions.values()) })
  }

  /** Start saving each partition's group state (every groupCommitMs). */
  saveGroups(): void {
    for (const p of this.ctx.partitions.values()) this.guarded('save group state', () => p.saveGroupsAsync())
  }

  /** Drop segments past each topic's retention (every retentionCheckMs). */
  applyRetention(now = this.clock()): void {
    for (const p of this.ctx.partitions.values()) this.guarded('retention', () => p.applyRetention(now))
    this.outbox.schedule()
  }

  /** fsync 'interval': sync what each partition appended since the last sync. */
  syncInterval(): void {
    for (const p of this.ctx.partitions.values()) this.guarded('sync', () => p.syncNow())
  }

  /** Stop the timers, let group saves in flight finish, then save, sync and close every partition. */
  async stop(): Promise<void> {
    this.onStop()
    this.stopping = true
    this.leaders?.close()
    await Promise.all([...this.ctx.partitions.values()].map((p) => p.savesInFlight()))
    for (const p of this.ctx.partitions.values()) this.guarded('close', () => p.close())
    this.ctx.partitions.clear()
  }

  /** The outbox's end-of-turn work, before it sends the turn's message. */
  private finishTurn(): void {
    const { ctx, outbox } = this
    // Followers' fetches leave before this turn's fsync (fetch-sessions.ts).
    this.fetches.afterTurn()
    if (this.fetches.answered) outbox.sendReplies()
    this.fetches.answered = false
    let pumping = false
    for (const p of ctx.partitions.values()) {
      this.guarded('commit', () => p.commit())
      pumping ||= p.needsPump
    }
    // Confirms leave before the delivery work, when there is any (see sendReplies).
    if (pumping) outbox.sendReplies()
    const now = this.clock()
    let more = false
    let visited = 0
    let first: string | undefined
    for (const [key, p] of ctx.partitions) {
      if (!p.needsPump) {
        visited++
        continue
      }
      if (outbox.turnFull) {
        // The turn's deliveries are spent (TURN_DELIVERY_BYTES): the partitions
        // served go to the back, so those left over go first next turn (the loop
        // ends here, so moving the map's keys is safe).
        toBack(ctx.partitions, visited)
        first = undefined
        more = true
        break
      }
      visited++
      first ??= key
      this.guarded('deliver', () => (more = p.pump(now) || more))
    }
    // The partitions of a subscription here share its credits (WorkerContext.members), and the
    // first pumped takes what was freed: the first one goes to the back, so partitions with
    // records take turns at going first and a busy one cannot keep the others waiting.
    if (first !== undefined) {
      const p = ctx.partitions.get(first)!
      ctx.partitions.delete(first)
      ctx.partitions.set(first, p)
    }
    // A pump that stopped at its per-turn budget goes on in the next turn.
    if (more) setImmediate(() => outbox.schedule())
    // Metric counts and followed positions join a message this turn sends anyway; alone they wait
    // for the next tick (TICK_MS) rather than wake the gateway for themselves. On a follower, the
    // sync that ends each fetch round made such a message every round (bench/README.md, Round 16).
    if (outbox.sending || this.reportDue) this.report()
  }

  /** This turn's metric counts and followed positions, into the turn's message. */
  private report(): void {
    this.reportDue = false
    const deltas = this.metrics.take()
    if (deltas) this.outbox.push({ t: 'metrics', deltas })
    if (this.positions.size > 0) {
      this.outbox.push({ t: 'followed', positions: [...this.positions.values()] })
      this.positions.clear()
    }
  }

  /** Fetch from exactly the leaders `op` names (loading the fetchers' code first, once). */
  private follow(op: FollowOp): void {
    if (this.leaders) return this.leaders.follow(op.self, op.incarnation, op.leaders)
    if (op.leaders.length === 0 && !this.pendingFollow) return
    this.pendingFollow = op
    this.leadersLoading ??= import('./leader-fetchers.js').then(
      ({ LeaderFetchers }) => {
        if (this.stopping) return
        this.leaders = new LeaderFetchers({
          append: (topic, partition, epoch, r) => this.appendFetched(topic, partition, epoch, r),
          report: (position) => this.positions.set(`${position.topic}/${position.partition}`, position),
          log: (level, msg, fields) => this.outbox.log({ level, msg, ...fields }),
        })
        const latest = this.pendingFollow!
        this.pendingFollow = undefined
        this.follow(latest)
      },
      (err: unknown) => {
        this.leadersLoading = undefined
        this.outbox.log({ level: 'error', msg: 'replica fetchers not loaded: this broker fetches nothing until the next change of roles', err: (err as Error)?.stack ?? String(err) })
      },
    )
  }

  /**
   * A leader's answer for one followed partition, from this worker's own
   * fetch (leader-fetchers.ts): appended as a gateway's 'replAppend' is, and
   * answered after the sync that covers it.
   */
  private appendFetched(topic: string, partition: number, epoch: number, r: FetchedPartition): Promise<Results['replAppend']> {
    if (this.stopping) return Promise.reject(new SkiffError('SHUTTING_DOWN', 'the worker is stopping'))
    const { id, answer } = this.outbox.local<'replAppend'>()
    // The gateway's op, made here: the same append, and the same handling of its errors.
    this.handle([{ t: 'replAppend', id, topic, partition, epoch, hw: r.hw, logStart: r.logStart ?? 0, batches: r.batches, diverging: r.divergingEpoch, groups: r.groups ?? NO_GROUPS }])
    return answer
  }

  private handleOne(op: ToWorker): void {
    const { ctx, outbox } = this
    switch (op.t) {
      case 'pub':
        ctx.partition(op.topic, op.partition).append(op.id, op.records, op.count, op.confirm, op.producerId, op.sequence)
        if (!op.confirm) outbox.answer(op, null)
        return
      case 'sub':
        ctx.partition(op.topic, op.partition).subscribe(op)
        outbox.answer(op, null)
        return
      case 'unsub':
        ctx.existing(op.topic, op.partition)?.unsubscribe(op.conn, op.sub, op.group)
        ctx.forgetMembers(op.conn, op.sub)
        outbox.answer(op, null)
        return
      case 'settle':
        ctx.existing(op.topic, op.partition)?.settle(op.conn, op.sub, op.group, op.kind, op.ranges, op.delayMs)
        outbox.schedule()
        return
      case 'gone':
        ctx.congested.delete(op.conn)
        for (const p of ctx.partitions.values()) p.connectionGone(op.conn)
        ctx.forgetMembers(op.conn)
        outbox.schedule()
        return
      case 'congested':
        if (op.on) ctx.congested.add(op.conn)
        else ctx.congested.delete(op.conn)
        for (const p of ctx.partitions.values()) p.setCongested(op.conn, op.on)
        outbox.schedule()
        return
      case 'describe':
        outbox.answer(op, describePartition(ctx.partition(op.topic, op.partition)))
        return
      case 'groups':
        outbox.answer(op, groupsOf(ctx.partition(op.topic, op.partition)))
        return
      case 'group':
        outbox.answer(op, describeGroup(ctx.partition(op.topic, op.partition), op.group))
        return
      case 'peek':
        outbox.answer(op, peek(ctx.partition(op.topic, op.partition), op.offset, op.max))
        return
      case 'drop':
        ctx.drop(op.topic, op.partition)
        outbox.answer(op, null)
        return
      case 'groupDelete':
        this.answerLater(op, deleteGroup(ctx.partition(op.topic, op.partition), op.group))
        return
      case 'groupReset':
        // The gateway asks only for a group that has state on some partition: one without state here
        // (a partition added after the group was made) gets it.
        this.answerLater(op, resetGroup(ctx.partition(op.topic, op.partition), op.group, op.to, op.value, op.dryRun, true))
        return
      case 'purge':
        purgePartition(ctx.partition(op.topic, op.partition), op.id, outbox)
        outbox.schedule()
        return
      case 'alter': {
        const open = ctx.existing(op.config.topic, op.partition)
        if (open) reconfigure(open, op.config)
        else {
          // A partition new to the topic: the topic's groups start at its beginning, so
          // nothing published to it before their members join again is skipped.
          startGroups(ctx.open(op.config, op.partition), op.groups)
        }
        outbox.answer(op, null)
        return
      }
      case 'reconfigure': {
        const open = ctx.existing(op.config.topic, op.partition)
        if (open) reconfigure(open, op.config)
        outbox.answer(op, null)
        return
      }
      case 'role': {
        // 'none' (the partition left this broker's replicas, or its topic was deleted) opens nothing:
        // after a topic's deletion that would make its directory again.
        const p = op.role === 'none' ? ctx.existing(op.config.topic, op.partition) : ctx.open(op.config, op.partition)
        if (p) applyRole(p, outbox, op.self, op.role as ReplicaRole | 'none', op.epoch, op.isr, op.minInSync)
        outbox.schedule()
        return
      }
      case 'replFetch':
        this.fetches.fetch(op, this.clock())
        return
      case 'replWake':
        this.fetches.wake(op.session)
        return
      case 'replAppend':
        appendFromLeader(ctx.partition(op.topic, op.partition), op.id, op.epoch, op.hw, op.logStart, op.batches, op.diverging ?? undefined, op.groups)
        outbox.schedule()
        return
      case 'follow':
        this.follow(op)
        return
      case 'isrCheck': {
        const r = ctx.existing(op.topic, op.partition)?.replica
        outbox.answer(op, r !== undefined && r.role === 'leader' && (r.ackedBy(op.follower) ?? -1) >= r.hw)
        return
      }
      case 'stop':
        void this.stop().then(
          () => outbox.answer(op, null),
          (err) => outbox.fail(op.id, 'INTERNAL', (err as Error).message),
        )
        return
    }
  }

  /** Answer `id` when `work` settles (admin ops that wait for a group save in flight). */
  private answerLater<K extends RequestOp['t']>(op: { readonly t: K; readonly id: number }, work: Promise<Results[K]>): void {
    const outbox = this.outbox
    const id = op.id
    work.then(
      (result) => outbox.answer(op, result),
      (err: unknown) => {
        const e = storageError(err)
        if (e.codeName === 'INTERNAL') outbox.log({ level: 'error', msg: 'worker op failed', err: (err as Error)?.stack })
        outbox.fail(id, e.codeName, e.message)
      },
    ).finally(() => outbox.schedule())
  }

  /**
   * Run one partition's share of a timer's or a turn's work. An unexpected error
   * (a disk failing in a way the storage code does not handle) is logged, at most
   * once per task every LOG_EVERY_MS, and the worker goes on serving its other
   * partitions: an exception escaping a timer would end the thread, and with it
   * every partition it owns.
   */
  private guarded(task: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      const now = Date.now()
      if (now - (this.lastLogged.get(task) ?? 0) < LOG_EVERY_MS) return
      this.lastLogged.set(task, now)
      this.outbox.log({ level: 'error', msg: 'worker task failed', task, err: (err as Error)?.stack ?? String(err) })
    }
  }
}
