/**
 * The durable log of one partition: a directory of segment files (see
 * segment-files.ts), appended to in batches by the worker thread that owns the
 * partition, read by its consumers, trimmed by retention.
 *
 * Design decisions:
 * - Synchronous fs calls. The owning worker may block on disk; group commit
 *   comes from the worker appending everything that arrived in one event-loop
 *   turn and then calling sync() once, so one fdatasync covers many batches.
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
 *   the new file is created: only the last segment can ever have a torn tail.
 * - Damage in the middle of the log is skipped on read and reported once
 *   (stats().corrupt, a log line); the good batches after it stay readable.
 *   A CorruptRange covers offsets [fromOffset, toOffset). At open, the end of
 *   the last segment is cut only when it is a torn write; a complete batch
 *   that fails its CRC is corruption, kept and reported the same way, and its
 *   offsets are never given out again (recovery.ts, tail-damage.ts).
 * - Index entries are hints, checked against their batch before use
 *   (index-trust.ts). `recovery` says what open() found and repaired.
 * - The partition directory, each new segment and its index, and each
 *   retention delete are followed by an fsync of the directory holding them
 *   (fs-util.ts says why).
 * - Retention by bytes deletes old segments while the partition is over
 *   retentionBytes (never the active segment), so a partition's size stays
 *   within the limit plus at most the active segment.
 * - Every batch carries the leader epoch it was appended in (leaderEpoch:
 *   the latest epoch the partition recorded, 0 when it never was in a
 *   cluster), and the leader-epochs file (leader-epochs.ts) lists where each
 *   epoch starts. A new epoch is recorded, durably, before its first batch is
 *   written, so the file is never behind the log; open() cuts it back to the
 *   recovered log, or rebuilds it from the batches (epoch-rebuild.ts).
 */
import { rmSync, statSync } from 'node:fs'
import { encodeBatch, MAX_LEADER_EPOCH, NO_SEQUENCE, readBatchHeader, verifyBatch } from '../../protocol/batch.js'
import { SkiffError } from '../../protocol/errors.js'
import { countRecords } from '../../protocol/records.js'
import { BatchCursor, forEachRecord, goodBatches, type Damage, type ScannedBatch } from './batch-cursor.js'
import { openLeaderEpochs } from './epoch-rebuild.js'
import { fsyncDir, mkdirDurable } from './fs-util.js'
import type { OffsetIndex } from './index-file.js'
import { distrustIndex, ensureIndex, indexedCursor } from './index-trust.js'
import { LeaderEpochs } from './leader-epochs.js'
import { emptyRecoveryReport, type CorruptRange, type LogFn, type PartitionLogOptions, type PartitionLogStats, type ProducerBatch, type RecoveryReport, type SegmentContext } from './log-types.js'
import { RecentBatches } from './read-cache.js'
import { RecordCollector, type LogRecord } from './record-collector.js'
import { openClosedSegment, recoverActiveSegment } from './recovery.js'
import { listSegmentBases } from './segment-files.js'
import { isStorageFull } from './storage-error.js'
import { Segment } from './segment.js'
import { firstBatchAtOrAfter } from './timestamp-search.js'

export type { LogRecord } from './record-collector.js'
export type { CorruptRange, PartitionLogOptions, PartitionLogStats, ProducerBatch, RecoveryReport } from './log-types.js'

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
export const DEFAULT_INDEX_INTERVAL_BYTES = 4096
export const DEFAULT_CACHE_BYTES = 4 * 1024 * 1024
/** Index positions are u32. */
const MAX_SEGMENT_BYTES = 0xffffffff
/** Old segments kept open (handle and index in memory) per partition. */
const MAX_OPEN_OLD_SEGMENTS = 4
const MIN_READ_WINDOW = 64 * 1024
const MAX_READ_WINDOW = 1024 * 1024

export class PartitionLog {
  private readonly segments: Segment[] = []
  private readonly cache: RecentBatches
  private readonly corruptRanges: CorruptRange[] = []
  /** Old segments with an open handle, least recently used first. */
  private readonly openOld: Segment[] = []
  private readonly segmentBytes: number
  private readonly ctx: SegmentContext
  private retentionMs: number
  private retentionBytes: number
  private readonly logFn: LogFn
  /** What open() found and repaired (log-types.ts says what each count means). */
  readonly recovery: RecoveryReport = emptyRecoveryReport()
  private next = 0
  private synced = 0
  private newestTimestamp = 0
  private bytes = 0
  private closed = false
  private epochs!: LeaderEpochs
  /** The epoch new batches carry; recorded in `epochs` when its first batch is appended. */
  private epoch = 0

  private constructor(private readonly dir: string, opts: PartitionLogOptions) {
    this.segmentBytes = Math.min(MAX_SEGMENT_BYTES, Math.max(1, opts.segmentBytes || DEFAULT_SEGMENT_BYTES))
    this.retentionMs = Math.max(0, opts.retentionMs || 0)
    this.retentionBytes = Math.max(0, opts.retentionBytes || 0)
    this.cache = new RecentBatches(opts.cacheBytes ?? DEFAULT_CACHE_BYTES)
    this.logFn = opts.log ?? (() => {})
    this.ctx = {
      indexIntervalBytes: Math.max(1, opts.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES),
      log: this.logFn,
      onDamage: (seg, damage, fromOffset) => this.recordDamage(seg, damage, fromOffset),
      report: undefined,
    }
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
    return this.segments[0]!.base
  }

  /** Next offset to be assigned. */
  get endOffset(): number {
    return this.next
  }

  /** Offsets below this are covered by an fdatasync. */
  get durableOffset(): number {
    return this.synced
  }

  /** The leader epoch new batches are stamped with. */
  get leaderEpoch(): number {
    return this.epoch
  }

  /** Where each leader epoch starts in this log (replication truncates by it). */
  get leaderEpochs(): LeaderEpochs {
    return this.epochs
  }

  /**
   * Stamp batches appended from now on with `epoch` (a broker that became
   * leader in it). Recorded in the leader-epochs file with the first batch.
   * Never goes back: a replica that has seen an epoch does not write in an
   * older one (CLUSTER.md invariant 3).
   */
  setLeaderEpoch(epoch: number): void {
    this.checkOpen()
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_LEADER_EPOCH) throw new RangeError(`leader epoch ${epoch} is not a u32`)
    const latest = this.epochs.latestEpoch
    if (epoch < this.epoch || (latest !== undefined && epoch < latest)) throw new Error(`leader epoch ${epoch} is older than ${Math.max(this.epoch, latest ?? 0)}, already in use`)
    this.epoch = epoch
  }

  /** Bytes of log (segment files, not indexes). */
  get sizeBytes(): number {
    return this.bytes
  }

  /**
   * Append one batch of `count` records (laid end to end in the record
   * encoding) and return its base offset. Written with writeSync, not synced.
   */
  append(records: Uint8Array, count: number, timestamp: number, producerId?: number, baseSequence?: number): number {
    this.checkOpen()
    if (!Number.isInteger(count) || count < 1) throw new SkiffError('INVALID_REQUEST', `a batch needs at least one record, got count ${count}`)
    const found = countRecords(records)
    if (found !== count) throw new SkiffError('INVALID_REQUEST', `the records blob holds ${found} records, not ${count}`)
    const ts = Math.max(Math.floor(timestamp) || 0, this.newestTimestamp)
    const baseOffset = this.next
    const epoch = this.epoch
    const batch = encodeBatch({ baseOffset, count, timestamp: ts, records, producerId: producerId ?? 0, baseSequence: baseSequence ?? NO_SEQUENCE, leaderEpoch: epoch })
    let active = this.active
    if (active.size > 0 && active.size + batch.length > this.segmentBytes) active = this.roll(baseOffset)
    try {
      // The epoch's start is durable before its first batch is written (a repeat after a failed write is a no-op).
      if (this.epochs.latestEpoch !== epoch) this.epochs.assign(epoch, baseOffset)
      active.append(batch, baseOffset, ts, this.ctx.indexIntervalBytes)
    } catch (err) {
      if (isStorageFull(err)) throw new SkiffError('STORAGE_FULL', `cannot append to ${active.logPath}: ${err.code}`, { cause: err })
      throw err
    }
    this.bytes += batch.length
    this.next = baseOffset + count
    this.newestTimestamp = ts
    this.cache.add(baseOffset, count, ts, batch)
    return baseOffset
  }

  /** fdatasync what was appended since the last sync; a no-op when nothing was. */
  sync(): void {
    this.checkOpen()
    this.active.sync()
    this.synced = this.next
  }

  /**
   * Whole batches as stored, from the one holding `fromOffset` on, at most
   * `maxBytes` after the first: what a leader hands a follower to append
   * verbatim (appendReplicated). Damaged batches are skipped, leaving a gap
   * in offsets that the follower's log keeps too.
   */
  readBatches(fromOffset: number, maxBytes: number): Buffer[] {
    this.checkOpen()
    const from = Math.max(fromOffset, this.startOffset)
    const out: Buffer[] = []
    if (from >= this.next) return out
    let bytes = 0
    const take = (b: Buffer): boolean => {
      out.push(b)
      bytes += b.length
      return bytes < maxBytes
    }
    const cached = this.cache.firstOffset
    if (cached !== undefined && from >= cached) {
      this.cache.batchesFrom(from, take)
      return out
    }
    const windowBytes = Math.min(MAX_READ_WINDOW, Math.max(MIN_READ_WINDOW, maxBytes + 8192))
    for (const { header, bytes: batch } of this.diskBatches(from, windowBytes)) {
      const cachedNow = this.cache.firstOffset
      if (cachedNow !== undefined && header.baseOffset >= cachedNow) {
        this.cache.batchesFrom(header.baseOffset, take)
        return out
      }
      if (!take(batch)) break
    }
    return out
  }

  /**
   * Append a batch a leader stored, byte for byte (a follower copying it).
   * Refused (INVALID_REQUEST) unless it is one whole batch whose CRC and
   * records check, starting at or after this log's end, of an epoch no older
   * than the latest here; a newer epoch is recorded, durably, before it.
   * Returns the new end offset. Written, not synced.
   */
  appendReplicated(batch: Buffer): number {
    this.checkOpen()
    const h = readBatchHeader(batch)
    if (!h || !verifyBatch(batch)) throw new SkiffError('INVALID_REQUEST', `replicated batch at ${h?.baseOffset ?? '?'} fails its check (size, CRC or records)`)
    if (h.baseOffset < this.next) throw new SkiffError('INVALID_REQUEST', `replicated batch at ${h.baseOffset} overlaps this log, which ends at ${this.next}`)
    const latest = this.epochs.latestEpoch
    if (latest !== undefined && h.leaderEpoch < latest) throw new SkiffError('INVALID_REQUEST', `replicated batch at ${h.baseOffset} is of epoch ${h.leaderEpoch}, older than ${latest}`)
    let active = this.active
    if (active.size > 0 && active.size + batch.length > this.segmentBytes) active = this.roll(h.baseOffset)
    try {
      if (latest !== h.leaderEpoch) this.epochs.assign(h.leaderEpoch, h.baseOffset)
      active.append(batch, h.baseOffset, h.timestamp, this.ctx.indexIntervalBytes)
    } catch (err) {
      if (isStorageFull(err)) throw new SkiffError('STORAGE_FULL', `cannot append to ${active.logPath}: ${err.code}`, { cause: err })
      throw err
    }
    this.epoch = Math.max(this.epoch, h.leaderEpoch)
    this.bytes += batch.length
    this.next = h.baseOffset + h.count
    this.newestTimestamp = Math.max(this.newestTimestamp, h.timestamp)
    this.cache.add(h.baseOffset, h.count, h.timestamp, batch)
    return this.next
  }

  /**
   * Cut the log so it ends at `offset` (a follower whose tail diverges from
   * its leader's: replication truncates by leader epoch, never to the high
   * watermark). `offset` is a batch boundary in practice (an epoch's start);
   * inside a batch, the whole batch goes. Segments past it are deleted, the
   * one holding it is cut and synced, the leader epochs that start at or
   * after it are dropped. Returns how many offsets were dropped.
   */
  truncateTo(offset: number): number {
    this.checkOpen()
    let to = Math.max(offset, this.startOffset)
    if (to >= this.next) {
      // No batch to cut, but an epoch recorded at the end with none of its own (a leadership that wrote
      // nothing) goes: left listed, it would make every fetch of this follower diverge again.
      this.epochs.truncateFrom(to)
      return 0
    }
    const i = this.segmentIndexFor(to)
    while (this.segments.length > i + 1) {
      const seg = this.segments.pop()!
      const open = this.openOld.indexOf(seg)
      if (open >= 0) this.openOld.splice(open, 1)
      this.bytes -= seg.size
      seg.delete()
    }
    const seg = this.active
    const open = this.openOld.indexOf(seg)
    if (open >= 0) this.openOld.splice(open, 1)
    const index = this.indexOf(seg, i)
    // The cut is at the first good batch, or damaged stretch, that holds offsets at or past `to`: a cut
    // inside a batch takes the whole batch (the log ends where it began), and damage past the cut goes
    // with it (left in the file, it would lie before the next append and be reported at every open).
    let position = seg.size
    const cursor = this.cursorFor(seg, i, to, MIN_READ_WINDOW)
    for (let step = cursor.next(); step.kind !== 'end'; step = cursor.next()) {
      if (step.kind === 'batch') {
        const { position: at, header } = step.batch
        if (header.baseOffset + header.count <= to) continue
        position = at
        to = Math.min(to, header.baseOffset)
        break
      }
      const from = cursor.expectedOffset
      if (!step.known) this.recordDamage(seg, step.damage, from)
      if (step.damage.resumeOffset !== undefined && step.damage.resumeOffset <= to) continue
      position = step.damage.position
      to = Math.max(this.startOffset, Math.min(to, from))
      break
    }
    const dropped = this.next - to
    // Damage known past the cut is gone with it: new batches will be written where it was.
    for (const at of seg.damage.keys()) if (at >= position) seg.damage.delete(at)
    seg.reopenWritable()
    index.truncate(index.floorEntry(Math.max(0, to - seg.base - 1)) + 1)
    while (index.length > 0 && index.positionAt(index.length - 1) >= position) index.truncate(index.length - 1)
    index.rewrite()
    this.bytes -= seg.size - position
    seg.truncate(position)
    fsyncDir(this.dir)
    this.epochs.truncateFrom(to)
    this.next = to
    this.synced = Math.min(this.synced, to)
    this.cache.clear()
    for (let r = this.corruptRanges.length - 1; r >= 0; r--) if (this.corruptRanges[r]!.fromOffset >= to) this.corruptRanges.splice(r, 1)
    this.logFn({ level: 'warn', msg: 'log truncated to the leader', endOffset: to, dropped })
    return dropped
  }

  /**
   * Records with offset >= fromOffset, in order, at most maxRecords and (after
   * the first) at most maxBytes. Offsets hidden by damage are skipped.
   */
  read(fromOffset: number, maxRecords: number, maxBytes: number): LogRecord[] {
    this.checkOpen()
    const from = Math.max(fromOffset, this.startOffset)
    const out = new RecordCollector(from, maxRecords, maxBytes)
    if (from >= this.next || out.full) return out.records
    const cached = this.cache.firstOffset
    if (cached !== undefined && from >= cached) {
      this.cache.read(from, out)
      return out.records
    }
    const windowBytes = Math.min(MAX_READ_WINDOW, Math.max(MIN_READ_WINDOW, maxBytes + 8192))
    for (const { header, bytes } of this.diskBatches(from, windowBytes)) {
      const cachedNow = this.cache.firstOffset
      if (cachedNow !== undefined && header.baseOffset >= cachedNow) {
        // The rest is in memory: no need to read it from disk.
        this.cache.read(Math.max(from, header.baseOffset), out)
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
    this.checkOpen()
    const out: ProducerBatch[] = []
    for (const { header: h } of this.diskBatches(Math.max(fromOffset, this.startOffset), MAX_READ_WINDOW)) {
      if (h.producerId !== 0) out.push({ producerId: h.producerId, baseSequence: h.baseSequence, baseOffset: h.baseOffset, count: h.count, timestamp: h.timestamp })
    }
    return out
  }

  /** Good batches on disk that hold offsets >= from, in order; damage is recorded and skipped. */
  private *diskBatches(from: number, windowBytes: number): Generator<ScannedBatch> {
    if (from >= this.next) return
    for (let i = this.segmentIndexFor(from); i < this.segments.length; i++) {
      const seg = this.segments[i]!
      const cursor = this.cursorFor(seg, i, from, windowBytes)
      for (const batch of goodBatches(cursor, (damage, at) => this.recordDamage(seg, damage, at))) {
        if (batch.header.baseOffset + batch.header.count > from) yield batch
      }
    }
  }

  /** First offset whose batch timestamp is >= ts, or endOffset when there is none. */
  offsetForTimestamp(ts: number): number {
    this.checkOpen()
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i]!
      // lastTimestamp -1: nothing readable was seen at open; look inside rather than guess.
      if (seg.lastTimestamp >= 0 && seg.lastTimestamp < ts) continue
      const index = this.indexOf(seg, i)
      const upper = this.upperOffsetOf(i)
      const found = firstBatchAtOrAfter(seg, index, upper, ts, (damage, fromOffset) => this.recordDamage(seg, damage, fromOffset), (entry) => distrustIndex(seg, upper, this.ctx, entry))
      if (found !== undefined) return Math.max(found, this.startOffset)
    }
    return this.next
  }

  /**
   * Delete whole old segments (never the active one): those whose newest
   * batch is more than retentionMs older than `now`, then the oldest ones
   * while the partition is over retentionBytes. Returns how many were deleted.
   */
  applyRetention(now: number): number {
    this.checkOpen()
    let deleted = 0
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!
      const expired = this.retentionMs > 0 && now - this.newestTimestampOf(oldest) > this.retentionMs
      const oversize = this.retentionBytes > 0 && this.bytes > this.retentionBytes
      if (!expired && !oversize) break
      this.segments.shift()
      const open = this.openOld.indexOf(oldest)
      if (open >= 0) this.openOld.splice(open, 1)
      oldest.delete()
      this.bytes -= oldest.size
      deleted++
      this.logFn({ level: 'info', msg: 'segment deleted', segment: oldest.logPath, reason: expired ? 'age' : 'bytes', startOffset: this.startOffset })
    }
    if (deleted > 0) {
      fsyncDir(this.dir)
      this.cache.dropBelow(this.startOffset)
      const remaining = new Set(this.segments.map((s) => s.name))
      for (let i = this.corruptRanges.length - 1; i >= 0; i--) {
        if (!remaining.has(this.corruptRanges[i]!.segment)) this.corruptRanges.splice(i, 1)
      }
    }
    return deleted
  }

  /** New retention limits (TOPIC_ALTER); the next applyRetention uses them. 0 keeps forever. */
  setRetention(retentionMs: number, retentionBytes: number): void {
    this.retentionMs = Math.max(0, retentionMs || 0)
    this.retentionBytes = Math.max(0, retentionBytes || 0)
  }

  /**
   * Drop every record (TOPIC_PURGE, like Kafka's delete-records up to the
   * end): the log starts at its end offset from now on. The active segment is
   * rolled at the end offset when it holds anything, then every segment
   * before the new one is deleted, so offsets stay monotonic: the next record
   * gets the offset the next one would have had, also after a restart (the
   * empty segment's name carries it). Returns how many records were dropped.
   */
  purge(): number {
    this.checkOpen()
    const dropped = this.next - this.startOffset
    if (this.active.size > 0 || this.active.base !== this.next) this.roll(this.next)
    this.synced = Math.max(this.synced, this.next) // what was unsynced is gone
    while (this.segments.length > 1) {
      const oldest = this.segments.shift()!
      const open = this.openOld.indexOf(oldest)
      if (open >= 0) this.openOld.splice(open, 1)
      oldest.delete()
      this.bytes -= oldest.size
    }
    fsyncDir(this.dir)
    this.cache.dropBelow(this.next)
    this.corruptRanges.length = 0
    this.logFn({ level: 'info', msg: 'partition purged', startOffset: this.next, records: dropped })
    return dropped
  }

  stats(): PartitionLogStats {
    return {
      startOffset: this.startOffset,
      endOffset: this.next,
      bytes: this.bytes,
      segments: this.segments.length,
      corrupt: this.corruptRanges.map((r) => ({ ...r })),
    }
  }

  /** Sync and close every file handle. Further calls throw. */
  close(): void {
    if (this.closed) return
    this.sync()
    this.active.seal()
    for (const seg of this.segments) seg.closeFd()
    this.openOld.length = 0
    this.cache.clear()
    this.closed = true
  }

  /** Close and delete the partition's directory. */
  destroy(): void {
    this.close()
    rmSync(this.dir, { recursive: true, force: true })
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!
  }

  private load(): void {
    this.ctx.report = this.recovery
    try {
      this.recover()
    } finally {
      this.ctx.report = undefined
    }
  }

  private recover(): void {
    const bases = listSegmentBases(this.dir)
    if (bases.length === 0) {
      this.segments.push(Segment.create(this.dir, 0))
      fsyncDir(this.dir)
      this.openEpochs()
      return
    }
    // Every segment is listed before any is checked, so damage found while
    // checking one can name the offset where the next one begins.
    bases.forEach((base, i) => this.segments.push(Segment.existing(this.dir, base, i === bases.length - 1)))
    for (let i = 0; i < bases.length - 1; i++) {
      const seg = this.segments[i]!
      openClosedSegment(seg, bases[i + 1]!, this.ctx)
      // Handles and index tables of old segments come back when a read needs them.
      seg.closeFd()
      seg.index = undefined
    }
    const last = this.active
    this.next = recoverActiveSegment(last, this.ctx)
    // What the last process wrote may still be only in the OS's cache: make it durable before anyone reads it.
    last.sync(true)
    this.synced = this.next
    for (const seg of this.segments) {
      this.bytes += seg.size
      this.newestTimestamp = Math.max(this.newestTimestamp, seg.lastTimestamp)
    }
    this.openEpochs()
  }

  /** Load (cut back, or rebuild) the leader epochs once the log is recovered; new batches continue the latest. */
  private openEpochs(): void {
    this.epochs = openLeaderEpochs(this.dir, this.segments, (i) => this.upperOffsetOf(i), this.next, this.ctx)
    this.epoch = this.epochs.latestEpoch ?? 0
    // A rebuild may have opened old segments: their handles come back when a read needs them.
    for (const seg of this.segments) if (seg !== this.active) seg.closeFd()
  }

  /** Seal the active segment and start a new one at `baseOffset`. */
  private roll(baseOffset: number): Segment {
    const old = this.active
    old.seal()
    old.index = undefined
    const seg = Segment.create(this.dir, baseOffset)
    fsyncDir(this.dir)
    this.segments.push(seg)
    this.logFn({ level: 'debug', msg: 'segment rolled', segment: seg.logPath, baseOffset })
    return seg
  }

  /** Index of the segment that holds `offset` (the last one whose base is <= it). */
  private segmentIndexFor(offset: number): number {
    let lo = 0
    let hi = this.segments.length - 1
    let found = 0
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.segments[mid]!.base <= offset) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }

  /** Offsets in segment i are below this. */
  private upperOffsetOf(i: number): number {
    return i + 1 < this.segments.length ? this.segments[i + 1]!.base : this.next
  }

  /** The segment's index, loading it (and opening the segment) when it is an old one not in use. */
  private indexOf(seg: Segment, i: number): OffsetIndex {
    if (seg !== this.active) {
      const at = this.openOld.indexOf(seg)
      if (at >= 0) this.openOld.splice(at, 1)
      this.openOld.push(seg)
      if (this.openOld.length > MAX_OPEN_OLD_SEGMENTS) {
        const evicted = this.openOld.shift()!
        evicted.closeFd()
        evicted.index = undefined
      }
    }
    return ensureIndex(seg, this.upperOffsetOf(i), this.ctx)
  }

  /** A cursor over segment i positioned at the last indexed batch at or before `offset` (its entry checked: index-trust.ts). */
  private cursorFor(seg: Segment, i: number, offset: number, windowBytes: number): BatchCursor {
    return indexedCursor(seg, this.indexOf(seg, i), offset, this.upperOffsetOf(i), windowBytes, this.ctx)
  }

  private newestTimestampOf(seg: Segment): number {
    if (seg.lastTimestamp >= 0) return seg.lastTimestamp
    // No readable batch: the file's modification time is the best age we have.
    return statSync(seg.logPath).mtimeMs
  }

  private recordDamage(seg: Segment, damage: Damage, fromOffset: number): void {
    if (seg.damage.has(damage.position)) return
    seg.damage.set(damage.position, damage)
    const i = this.segments.indexOf(seg)
    const range: CorruptRange = {
      segment: seg.name,
      position: damage.position,
      fromOffset,
      toOffset: damage.resumeOffset ?? (i >= 0 ? this.upperOffsetOf(i) : fromOffset),
      reason: damage.reason,
    }
    this.corruptRanges.push(range)
    if (this.ctx.report) {
      this.ctx.report.corruptBatches++
      this.ctx.report.corruptOffsets += range.toOffset - range.fromOffset
    }
    this.logFn({ level: 'warn', msg: 'corrupt batch skipped', ...range, segment: seg.logPath })
  }

  private checkOpen(): void {
    if (this.closed) throw new SkiffError('SHUTTING_DOWN', `partition log ${this.dir} is closed`)
  }
}
