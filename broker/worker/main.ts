/**
 * Partition worker entry point. It owns a fixed set of partitions (see
 * ownerOf) and everything about them: logs, fsync/group commit, group cursors,
 * ack deadlines, redelivery, dead letters, retention. It receives one batch of
 * ops per gateway turn and answers with one batch per own turn.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { storageError } from '../storage/storage-error.js'
import { parseFsync } from '../config.js'
import { loadTopicConfigs } from '../topic-store.js'
import { ownerOf } from '../routing.js'
import { packOps, unpackOps, type FromWorker, type ToWorker, type WorkerData } from '../thread-messages.js'
import { Outbox, toBack } from './outbox.js'
import { WorkerContext } from './context.js'
import { WorkerMetrics } from '../observability/worker-metrics.js'
import { releaseWhenIdle } from '../memory/idle-release.js'
import { releaseReadCaches } from '../storage/read-cache.js'
import { deleteGroup, purge, reconfigure, resetGroup, startGroups } from './partition-admin.js'

const data = workerData as WorkerData
const port = parentPort!
const fsync = parseFsync(data.fsync)
/** How often ack deadlines and delayed redeliveries are checked. */
const TICK_MS = 50

const outbox = new Outbox(
  (ops: FromWorker[]) => {
    const ab = packOps(ops)
    port.postMessage(ab, [ab])
  },
  data.maxFrame,
  endOfTurn,
)
const metrics = new WorkerMetrics(data.workerId, () => outbox.schedule())
const ctx = new WorkerContext(data.dataDir, fsync, outbox, metrics)
/** How often lag, log sizes and event loop utilization are sampled for the gateway. */
const GAUGE_MS = 1000

/** When each guarded task last logged a failure. */
const lastLogged = new Map<string, number>()
const LOG_EVERY_MS = 10_000

/**
 * Run one partition's share of a timer's or a turn's work. An unexpected error
 * (a disk failing in a way the storage code does not handle) is logged, at most
 * once per task every LOG_EVERY_MS, and the worker goes on serving its other
 * partitions: an exception escaping a timer would end the thread, and with it
 * every partition it owns.
 */
function guarded(task: string, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    const now = Date.now()
    if (now - (lastLogged.get(task) ?? 0) < LOG_EVERY_MS) return
    lastLogged.set(task, now)
    outbox.log({ level: 'error', msg: 'worker task failed', task, err: (err as Error)?.stack ?? String(err) })
  }
}

function endOfTurn(): void {
  let pumping = false
  for (const p of ctx.partitions.values()) {
    guarded('commit', () => p.commit())
    pumping ||= p.needsPump
  }
  // Confirms leave before the delivery work, when there is any (see sendReplies).
  if (pumping) outbox.sendReplies()
  const now = Date.now()
  let more = false
  let visited = 0
  for (const p of ctx.partitions.values()) {
    if (!p.needsPump) {
      visited++
      continue
    }
    if (outbox.turnFull) {
      // The turn's deliveries are spent (TURN_DELIVERY_BYTES): the partitions
      // served go to the back, so those left over go first next turn (the loop
      // ends here, so moving the map's keys is safe).
      toBack(ctx.partitions, visited)
      more = true
      break
    }
    visited++
    guarded('deliver', () => (more = p.pump(now) || more))
  }
  // A pump that stopped at its per-turn budget goes on in the next turn.
  if (more) setImmediate(() => outbox.schedule())
  // This turn's metric counts join this turn's one message to the gateway.
  const deltas = metrics.take()
  if (deltas) outbox.push({ t: 'metrics', deltas })
}

function handle(op: ToWorker): void {
  switch (op.t) {
    case 'pub':
      ctx.partition(op.topic, op.partition).append(op.id, op.records, op.count, op.confirm, op.producerId, op.sequence)
      if (!op.confirm) outbox.done(op.id, null)
      return
    case 'sub':
      ctx.partition(op.topic, op.partition).subscribe(op)
      outbox.done(op.id, null)
      return
    case 'unsub':
      ctx.existing(op.topic, op.partition)?.unsubscribe(op.conn, op.sub, op.group)
      outbox.done(op.id, null)
      return
    case 'settle':
      ctx.existing(op.topic, op.partition)?.settle(op.conn, op.sub, op.group, op.kind, op.ranges, op.delayMs)
      outbox.schedule()
      return
    case 'gone':
      ctx.congested.delete(op.conn)
      for (const p of ctx.partitions.values()) p.connectionGone(op.conn)
      outbox.schedule()
      return
    case 'congested':
      if (op.on) ctx.congested.add(op.conn)
      else ctx.congested.delete(op.conn)
      for (const p of ctx.partitions.values()) p.setCongested(op.conn, op.on)
      outbox.schedule()
      return
    case 'describe':
      outbox.done(op.id, ctx.partition(op.topic, op.partition).describe())
      return
    case 'groups':
      outbox.done(op.id, ctx.partition(op.topic, op.partition).groups())
      return
    case 'group':
      outbox.done(op.id, ctx.partition(op.topic, op.partition).describeGroup(op.group))
      return
    case 'peek':
      outbox.done(op.id, ctx.partition(op.topic, op.partition).peek(op.offset, op.max))
      return
    case 'drop':
      ctx.drop(op.topic, op.partition)
      outbox.done(op.id, null)
      return
    case 'groupDelete':
      answerLater(op.id, deleteGroup(ctx.partition(op.topic, op.partition), op.group))
      return
    case 'groupReset':
      // The gateway asks only for a group that has state on some partition: one without state here
      // (a partition added after the group was made) gets it.
      answerLater(op.id, resetGroup(ctx.partition(op.topic, op.partition), op.group, op.to, op.value, op.dryRun, true))
      return
    case 'purge':
      outbox.done(op.id, purge(ctx.partition(op.topic, op.partition)))
      return
    case 'alter': {
      const open = ctx.existing(op.config.topic, op.partition)
      if (open) reconfigure(open, op.config)
      else {
        // A partition new to the topic: the topic's groups start at its beginning, so
        // nothing published to it before their members join again is skipped.
        startGroups(ctx.open(op.config, op.partition), op.groups)
      }
      outbox.done(op.id, null)
      return
    }
    case 'stop':
      void stop().then(
        () => outbox.done(op.id, null),
        (err) => outbox.fail(op.id, 'INTERNAL', (err as Error).message),
      )
      return
  }
}

/** Answer `id` when `work` settles (admin ops that wait for a group save in flight). */
function answerLater(id: number, work: Promise<unknown>): void {
  work.then(
    (result) => outbox.done(id, result),
    (err: unknown) => {
      const e = storageError(err)
      if (e.codeName === 'INTERNAL') outbox.log({ level: 'error', msg: 'worker op failed', err: (err as Error)?.stack })
      outbox.fail(id, e.codeName, e.message)
    },
  ).finally(() => outbox.schedule())
}

/** Stop the timers, let group saves in flight finish, then save, sync and close every partition. */
async function stop(): Promise<void> {
  clearInterval(ticker)
  clearInterval(groupSaver)
  clearInterval(gaugeSampler)
  if (retention) clearInterval(retention)
  if (syncer) clearInterval(syncer)
  idleRelease.stop()
  await Promise.all([...ctx.partitions.values()].map((p) => p.savesInFlight()))
  for (const p of ctx.partitions.values()) guarded('close', () => p.close())
  ctx.partitions.clear()
}

port.on('message', (ab: ArrayBuffer) => {
  for (const op of unpackOps<ToWorker>(ab)) {
    try {
      handle(op)
    } catch (err) {
      const e = storageError(err) // disk-full and quota errors are STORAGE_FULL (retriable); anything else unexpected is INTERNAL
      if (e.codeName === 'INTERNAL') outbox.log({ level: 'error', msg: 'worker op failed', op: op.t, err: (err as Error).stack })
      if ('id' in op) outbox.fail(op.id, e.codeName, e.message)
    }
  }
  outbox.schedule()
})

const ticker = setInterval(() => {
  const now = Date.now()
  let any = false
  for (const p of ctx.partitions.values()) {
    guarded('ack deadlines', () => p.expire(now))
    any ||= p.needsPump
  }
  if (any) outbox.schedule()
}, TICK_MS)

const sampleGauges = () => outbox.push({ t: 'gauges', gauges: metrics.gauges(ctx.partitions.values()) })
const gaugeSampler = setInterval(sampleGauges, GAUGE_MS)

const groupSaver = setInterval(() => {
  for (const p of ctx.partitions.values()) guarded('save group state', () => p.saveGroupsAsync())
}, data.groupCommitMs)

const retention = data.retentionCheckMs > 0
  ? setInterval(() => {
      const now = Date.now()
      for (const p of ctx.partitions.values()) guarded('retention', () => p.applyRetention(now))
      outbox.schedule()
    }, data.retentionCheckMs)
  : undefined

// Once idle after work: read caches emptied and a full GC, so the thread's memory goes back to the system.
const idleRelease = releaseWhenIdle(releaseReadCaches)

const syncer = fsync.mode === 'interval'
  ? setInterval(() => {
      for (const p of ctx.partitions.values()) guarded('sync', () => p.syncNow())
    }, fsync.ms)
  : undefined

/**
 * Open every partition this worker owns, so that each recovers (its log, its
 * groups) and reports what it found now, at start, rather than at its first
 * use, which could be days later or never (a clamped or lost group would go
 * unreported until then). The broker says "listening" after this. A
 * partition that cannot be opened is reported and left closed: a later
 * request for it tries again and gets the error.
 */
function openOwnedPartitions(): void {
  const started = performance.now()
  let opened = 0
  // Directories without a readable topic.json are the gateway's to report (once, not once per worker).
  for (const config of loadTopicConfigs(data.dataDir, () => {})) {
    for (let p = 0; p < config.partitions; p++) {
      if (ownerOf(config.topic, p, data.workers) !== data.workerId) continue
      try {
        ctx.open(config, p)
        opened++
      } catch (err) {
        const e = storageError(err)
        outbox.log({ level: 'error', msg: 'partition not opened', topic: config.topic, partition: p, code: e.codeName, err: (err as Error)?.stack ?? String(err) })
      }
    }
  }
  if (opened > 0) outbox.log({ level: 'info', msg: 'partitions recovered', worker: data.workerId, partitions: opened, ms: Math.round(performance.now() - started) })
}

openOwnedPartitions()
// The first gauge sample now, not a second from now: the lag of every recovered group (its
// consumers connected or not: the case the lag alert is for) is on /metrics from "listening" on.
sampleGauges()
// Send what recovery logged and counted and the gauges, then tell the gateway this worker is
// loaded: the gateway handles all of it before it says the broker is listening.
outbox.flush()
port.postMessage({ t: 'ready', module: import.meta.url })
