/**
 * The durable log of one partition: a directory of segment files (see
 * segment-files.ts), appended to in batches by the worker thread that owns the
 * partition, read by its consumers, trimmed by retention.
 *
 * Design decisions:
 * - Synchronous fs calls, except the fdatasync of fsync 'always' (syncAsync),
 *   which runs on the libuv pool while the worker goes on appending: group
 *   commit comes from one sync at a time covering everything appended before
 *   it began, the next starting when it ends. Writes are small and land in
 *   the page cache; the fdatasync is the call that waits for the disk.
 * - append() only writes (the OS has the bytes, a crash of the process loses
 *   nothing); sync() makes them durable. `durableOffset` tells which offsets a
 *   sync has covered, for callers that must not expose anything less.
 * - Batch timestamps never go backwards within a partition: a batch gets
 *   max(timestamp, newest so far). A clock stepping back cannot reorder time,
 *   so a segment's newest timestamp is that of its last batch, retention by age
 *   deletes a prefix of segments, and timestamp lookups can binary-search.
 * - A segment rolls before a batch would take it past segmentBytes (a batch
 *   larger than that gets a segment of its own). At the roll the old segment
 *   is fdatasynced and its index fsynced, and the directory is fsynced after
 *   the new file is created (LogState.roll): only the last segment can ever
 *   have a torn tail.
 * - Damage in the middle of the log is skipped on read and reported once
 *   (log-state.ts says how). At open, the end of the last segment is cut
 *   only when it is a torn write; a complete batch that fails its CRC is
 *   corruption, kept and reported the same way, and its offsets are never
 *   given out again (recovery.ts, tail-damage.ts).
 * - Index entries are hints, checked against their batch before use
 *   (index-trust.ts). `recovery` says what open() found and repaired.
 * - The partition directory, each new segment and its index, and each
 *   retention delete are followed by an fsync of the directory holding them
 *   (fs-util.ts says why).
 * - Retention and purge delete whole segments (log-retention.ts says how);
 *   a follower's copy of its leader's batches is log-replication.ts. Both
 *   act on the state this class holds (log-state.ts).
 * - Every batch carries the leader epoch it was appended in (leaderEpoch:
 *   the latest epoch the partition recorded, 0 when it never was in a
 *   cluster), and the leader-epochs file (leader-epochs.ts) lists where each
 *   epoch starts. A new epoch is recorded, durably, before its first batch is
 *   written, so the file is never behind the log; open() cuts it back to the
 *   recovered log, or rebuilds it from the batches (epoch-rebuild.ts).
 */
import { rmSync } from 'node:fs'
import { encodeBatch, MAX_LEADER_EPOCH, NO_SEQUENCE } from '../../protocol/batch.js'
import { SkiffError } from '../../protocol/errors.js'
import { countRecords } from '../../protocol/records.js'
import { forEachRecord } from './batch-cursor.js'
import { openLeaderEpochs } from './epoch-rebuild.js'
import { fsyncDir, mkdirDurable } from './fs-util.js'
import { distrustIndex } from './index-trust.js'
import type { LeaderEpochs } from './leader-epochs.js'
import { appendReplicated, readBatches, truncateTo } from './log-replication.js'
import { applyRetention, dropBefore, purge, setRetention } from './log-retention.js'
import { LogState, MAX_READ_WINDOW, MIN_READ_WINDOW } from './log-state.js'
import { emptyRecoveryReport, type PartitionLogOptions, type PartitionLogStats, type ProducerBatch, type RecoveryReport } from './log-types.js'
import { RecordCollector, type LogRecord } from './record-collector.js'
import { openClosedSegment, recoverActiveSegment } from './recovery.js'
import { listSegmentBases } from './segment-files.js'
import { isStorageFull } from './storage-error.js'
import { Segment } from './segment.js'
import { firstBatchAtOrAfter } from './timestamp-search.js'

export type { LogRecord } from './record-collector.js'
export type { CorruptRange, PartitionLogOptions, PartitionLogStats, ProducerBatch, RecoveryReport } from './log-types.js'

export { DEFAULT_CACHE_BYTES, DEFAULT_INDEX_INTERVAL_BYTES, DEFAULT_SEGMENT_BYTES } from './log-state.js'

export class PartitionLog {
  /** Segments, offsets, byte counts and read cache, shared with log-replication.ts and log-retention.ts. */
  private readonly s: LogState
  /** What open() found and repaired (log-types.ts says what each count means). */
  readonly recovery: RecoveryReport = emptyRecoveryReport()

  private constructor(dir: string, opts: PartitionLogOptions) {
    this.s = new LogState(dir, opts)
  }

  /** Open (creating if needed) and recover the partition in `opts.dir`. Throws only for fs errors. */
  static open(opts: PartitionLogOptions): PartitionLog {
    // The partition directory's name is made durable (its parent fsynced) before a segment is created in it.
    mkdirDurable(opts.dir)
    const log = new PartitionLog(opts.dir, opts)
    log.load()
    return log
  }

  /** First offset still stored (after retention). */
  get startOffset(): number {
    return this.s.startOffset
  }

  /** Next offset to be assigned. */
  get endOffset(): number {
    return this.s.next
  }

  /** Offsets below this are covered by an fdatasync. */
  get durableOffset(): number {
    return this.s.synced
  }

  /** The leader epoch new batches are stamped with. */
  get leaderEpoch(): number {
    return this.s.epoch
  }

  /** Where each leader epoch starts in this log (replication truncates by it). */
  get leaderEpochs(): LeaderEpochs {
    return this.s.epochs
  }

  /**
   * Stamp batches appended from now on with `epoch` (a broker that became
   * leader in it). Recorded in the leader-epochs file with the first batch.
   * Never goes back: a replica that has seen an epoch does not write in an
   * older one (CLUSTER.md invariant 3).
   */
  setLeaderEpoch(epoch: number): void {
    const s = this.s
    s.checkOpen()
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_LEADER_EPOCH) throw new RangeError(`leader epoch ${epoch} is not a u32`)
    const latest = s.epochs.latestEpoch
    if (epoch < s.epoch || (latest !== undefined && epoch < latest)) throw new Error(`leader epoch ${epoch} is older than ${Math.max(s.epoch, latest ?? 0)}, already in use`)
    s.epoch = epoch
  }

  /** Bytes of log (segment files, not indexes). */
  get sizeBytes(): number {
    return this.s.bytes
  }

  /**
   * Append one batch of `count` records (laid end to end in the record
   * encoding) and return its base offset. Written with writeSync, not synced.
   */
  append(records: Uint8Array, count: number, timestamp: number, producerId?: number, baseSequence?: number): number {
    const s = this.s
    s.checkOpen()
    if (!Number.isInteger(count) || count < 1) throw new SkiffError('INVALID_REQUEST', `a batch needs at least one record, got count ${count}`)
    const found = countRecords(records)
    if (found !== count) throw new SkiffError('INVALID_REQUEST', `the records blob holds ${found} records, not ${count}`)
    const ts = Math.max(Math.floor(timestamp) || 0, s.newestTimestamp)
    const baseOffset = s.next
    const epoch = s.epoch
    const batch = encodeBatch({ baseOffset, count, timestamp: ts, records, producerId: producerId ?? 0, baseSequence: baseSequence ?? NO_SEQUENCE, leaderEpoch: epoch })
    let active = s.active
    if (active.size > 0 && active.size + batch.length > s.segmentBytes) active = s.roll(baseOffset)
    try {
      // The epoch's start is durable before its first batch is written (a repeat after a failed write is a no-op).
      if (s.epochs.latestEpoch !== epoch) s.epochs.assign(epoch, baseOffset)
      active.append(batch, baseOffset, ts, s.ctx.indexIntervalBytes)
    } catch (err) {
      if (isStorageFull(err)) throw new SkiffError('STORAGE_FULL', `cannot append to ${active.logPath}: ${err.code}`, { cause: err })
      throw err
    }
    s.bytes += batch.length
    s.next = baseOffset + count
    s.newestTimestamp = ts
    s.cache.add(baseOffset, count, ts, batch)
    return baseOffset
  }

  /** fdatasync what was appended since the last sync; a no-op when nothing was. */
  sync(): void {
    const s = this.s
    s.checkOpen()
    s.active.sync()
    s.synced = s.next
  }

  /**
   * fdatasync what was appended so far on the libuv pool; `done` runs on this
   * thread when it ended, with durableOffset moved past it (or with the
   * error, and durableOffset where it was). One at a time: the caller starts
   * the next when this one is done (group commit: everything appended
   * meanwhile is covered by the next).
   */
  syncAsync(done: (err: Error | null) => void): void {
    const s = this.s
    s.checkOpen()
    if (s.syncInFlight) throw new Error(`a sync of ${s.dir} is already running`)
    const op = { target: s.next }
    s.syncInFlight = op
    s.active.syncAsync((err) => {
      s.syncInFlight = undefined
      if (!err) s.synced = Math.max(s.synced, Math.min(op.target, s.next))
      done(err)
    })
  }

  /** Whole batches as stored from `fromOffset` on, for a follower (log-replication.ts readBatches). */
  readBatches(fromOffset: number, maxBytes: number): Buffer[] {
    return readBatches(this.s, fromOffset, maxBytes)
  }

  /** Append a batch a leader stored, byte for byte; returns the new end offset (log-replication.ts appendReplicated). */
  appendReplicated(batch: Buffer): number {
    return appendReplicated(this.s, batch)
  }

  /** Cut the log so it ends at `offset`; returns how many offsets were dropped (log-replication.ts truncateTo). */
  truncateTo(offset: number): number {
    return truncateTo(this.s, offset)
  }

  /**
   * Records with offset >= fromOffset, in order, at most maxRecords and (after
   * the first) at most maxBytes. Offsets hidden by damage are skipped.
   */
  read(fromOffset: number, maxRecords: number, maxBytes: number): LogRecord[] {
    const s = this.s
    s.checkOpen()
    const from = Math.max(fromOffset, s.startOffset)
    const out = new RecordCollector(from, maxRecords, maxBytes)
    if (from >= s.next || out.full) return out.records
    const cached = s.cache.firstOffset
    if (cached !== undefined && from >= cached) {
      s.cache.read(from, out)
      return out.records
    }
    const windowBytes = Math.min(MAX_READ_WINDOW, Math.max(MIN_READ_WINDOW, maxBytes + 8192))
    for (const { header, bytes } of s.diskBatches(from, windowBytes)) {
      const cachedNow = s.cache.firstOffset
      if (cachedNow !== undefined && header.baseOffset >= cachedNow) {
        // The rest is in memory: no need to read it from disk.
        s.cache.read(Math.max(from, header.baseOffset), out)
        return out.records
      }
      forEachRecord(bytes, header.baseOffset, (offset, record) => out.offer(offset, header.timestamp, record))
      if (out.full) break
    }
    return out.records
  }

  /**
   * The batches from `fromOffset` on that carry a producer id, as stored: the
   * idempotent producer's dedup window is rebuilt from them at start.
   */
  producerBatches(fromOffset: number): ProducerBatch[] {
    this.s.checkOpen()
    const out: ProducerBatch[] = []
    for (const { header: h } of this.s.diskBatches(Math.max(fromOffset, this.startOffset), MAX_READ_WINDOW)) {
      if (h.producerId !== 0) out.push({ producerId: h.producerId, baseSequence: h.baseSequence, baseOffset: h.baseOffset, count: h.count, timestamp: h.timestamp })
    }
    return out
  }

  /** First offset whose batch timestamp is >= ts, or endOffset when there is none. */
  offsetForTimestamp(ts: number): number {
    const s = this.s
    s.checkOpen()
    for (let i = 0; i < s.segments.length; i++) {
      const seg = s.segments[i]!
      // lastTimestamp -1: nothing readable was seen at open; look inside rather than guess.
      if (seg.lastTimestamp >= 0 && seg.lastTimestamp < ts) continue
      const index = s.indexOf(seg, i)
      const upper = s.upperOffsetOf(i)
      const found = firstBatchAtOrAfter(seg, index, upper, ts, (damage, fromOffset) => s.recordDamage(seg, damage, fromOffset), (entry) => distrustIndex(seg, upper, s.ctx, entry))
      if (found !== undefined) return Math.max(found, s.startOffset)
    }
    return s.next
  }

  /** Delete the old segments retention no longer keeps; returns how many (log-retention.ts applyRetention). */
  applyRetention(now: number): number {
    return applyRetention(this.s, now)
  }

  /** New retention limits (TOPIC_ALTER); the next applyRetention uses them. 0 keeps forever. */
  setRetention(retentionMs: number, retentionBytes: number): void {
    setRetention(this.s, retentionMs, retentionBytes)
  }

  /** Drop every record (TOPIC_PURGE); returns how many (log-retention.ts purge). */
  purge(): number {
    return purge(this.s)
  }

  /** A follower's copy drops what lies below its leader's start (log-retention.ts dropBefore). */
  dropBefore(offset: number): number {
    return dropBefore(this.s, offset)
  }

  stats(): PartitionLogStats {
    const s = this.s
    return {
      startOffset: s.startOffset,
      endOffset: s.next,
      bytes: s.bytes,
      segments: s.segments.length,
      corrupt: s.corruptRanges.map((r) => ({ ...r })),
    }
  }

  /** Sync and close every file handle. Further calls throw. */
  close(): void {
    const s = this.s
    if (s.closed) return
    this.sync()
    s.active.seal()
    for (const seg of s.segments) seg.closeFd()
    s.openOld.length = 0
    s.cache.clear()
    s.closed = true
  }

  /** Close and delete the partition's directory. */
  destroy(): void {
    this.close()
    rmSync(this.s.dir, { recursive: true, force: true })
  }

  private load(): void {
    this.s.ctx.report = this.recovery
    try {
      this.recover()
    } finally {
      this.s.ctx.report = undefined
    }
  }

  private recover(): void {
    const s = this.s
    const bases = listSegmentBases(s.dir)
    if (bases.length === 0) {
      s.segments.push(Segment.create(s.dir, 0))
      fsyncDir(s.dir)
      this.openEpochs()
      return
    }
    // Every segment is listed before any is checked, so damage found while
    // checking one can name the offset where the next one begins.
    bases.forEach((base, i) => s.segments.push(Segment.existing(s.dir, base, i === bases.length - 1)))
    for (let i = 0; i < bases.length - 1; i++) {
      const seg = s.segments[i]!
      openClosedSegment(seg, bases[i + 1]!, s.ctx)
      // Handles and index tables of old segments come back when a read needs them.
      seg.closeFd()
      seg.index = undefined
    }
    const last = s.active
    s.next = recoverActiveSegment(last, s.ctx)
    // What the last process wrote may still be only in the OS's cache: make it durable before anyone reads it.
    last.sync(true)
    s.synced = s.next
    for (const seg of s.segments) {
      s.bytes += seg.size
      s.newestTimestamp = Math.max(s.newestTimestamp, seg.lastTimestamp)
    }
    this.openEpochs()
  }

  /** Load (cut back, or rebuild) the leader epochs once the log is recovered; new batches continue the latest. */
  private openEpochs(): void {
    const s = this.s
    s.epochs = openLeaderEpochs(s.dir, s.segments, (i) => s.upperOffsetOf(i), s.next, s.ctx)
    s.epoch = s.epochs.latestEpoch ?? 0
    // A rebuild may have opened old segments: their handles come back when a read needs them.
    for (const seg of s.segments) if (seg !== s.active) seg.closeFd()
  }

}
