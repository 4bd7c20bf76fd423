/**
 * A follower's copy of its leader's log, on the storage side: the leader
 * reads whole batches as stored (readBatches), the follower appends them
 * byte for byte (appendReplicated) and cuts its tail where it diverges
 * from the leader's (truncateTo). Functions of the log's state
 * (log-state.ts); PartitionLog's methods of the same names call them.
 *
 * Design decisions:
 * - A replicated batch keeps its leader's offsets, timestamp and epoch. A
 *   newer epoch is recorded in the leader-epochs file, durably, before its
 *   first batch is written, as for a local append (partition-log.ts).
 * - A follower truncates by leader epoch, never to the high watermark
 *   (CLUSTER.md); a cut inside a batch takes the whole batch.
 */
import { readBatchHeader, verifyBatch } from '../../protocol/batch.js'
import { SkiffError } from '../../protocol/errors.js'
import { fsyncDir } from './fs-util.js'
import { MAX_READ_WINDOW, MIN_READ_WINDOW, type LogState } from './log-state.js'
import { isStorageFull } from './storage-error.js'

/**
 * Whole batches as stored, from the one holding `fromOffset` on, at most
 * `maxBytes` after the first: what a leader hands a follower to append
 * verbatim (appendReplicated). Damaged batches are skipped, leaving a gap
 * in offsets that the follower's log keeps too.
 */
export function readBatches(s: LogState, fromOffset: number, maxBytes: number): Buffer[] {
  s.checkOpen()
  const from = Math.max(fromOffset, s.startOffset)
  const out: Buffer[] = []
  if (from >= s.next) return out
  let bytes = 0
  const take = (b: Buffer): boolean => {
    out.push(b)
    bytes += b.length
    return bytes < maxBytes
  }
  const cached = s.cache.firstOffset
  if (cached !== undefined && from >= cached) {
    s.cache.batchesFrom(from, take)
    return out
  }
  const windowBytes = Math.min(MAX_READ_WINDOW, Math.max(MIN_READ_WINDOW, maxBytes + 8192))
  for (const { header, bytes: batch } of s.diskBatches(from, windowBytes)) {
    const cachedNow = s.cache.firstOffset
    if (cachedNow !== undefined && header.baseOffset >= cachedNow) {
      s.cache.batchesFrom(header.baseOffset, take)
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
export function appendReplicated(s: LogState, batch: Buffer): number {
  s.checkOpen()
  const h = readBatchHeader(batch)
  if (!h || !verifyBatch(batch)) throw new SkiffError('INVALID_REQUEST', `replicated batch at ${h?.baseOffset ?? '?'} fails its check (size, CRC or records)`)
  if (h.baseOffset < s.next) throw new SkiffError('INVALID_REQUEST', `replicated batch at ${h.baseOffset} overlaps this log, which ends at ${s.next}`)
  const latest = s.epochs.latestEpoch
  if (latest !== undefined && h.leaderEpoch < latest) throw new SkiffError('INVALID_REQUEST', `replicated batch at ${h.baseOffset} is of epoch ${h.leaderEpoch}, older than ${latest}`)
  let active = s.active
  if (active.size > 0 && active.size + batch.length > s.segmentBytes) active = s.roll(h.baseOffset)
  try {
    if (latest !== h.leaderEpoch) s.epochs.assign(h.leaderEpoch, h.baseOffset)
    active.append(batch, h.baseOffset, h.timestamp, s.ctx.indexIntervalBytes)
  } catch (err) {
    if (isStorageFull(err)) throw new SkiffError('STORAGE_FULL', `cannot append to ${active.logPath}: ${err.code}`, { cause: err })
    throw err
  }
  s.epoch = Math.max(s.epoch, h.leaderEpoch)
  s.bytes += batch.length
  s.next = h.baseOffset + h.count
  s.newestTimestamp = Math.max(s.newestTimestamp, h.timestamp)
  s.cache.add(h.baseOffset, h.count, h.timestamp, batch)
  return s.next
}

/**
 * Cut the log so it ends at `offset` (a follower whose tail diverges from
 * its leader's: replication truncates by leader epoch, never to the high
 * watermark). `offset` is a batch boundary in practice (an epoch's start);
 * inside a batch, the whole batch goes. Segments past it are deleted, the
 * one holding it is cut and synced, the leader epochs that start at or
 * after it are dropped. Returns how many offsets were dropped.
 */
export function truncateTo(s: LogState, offset: number): number {
  s.checkOpen()
  let to = Math.max(offset, s.startOffset)
  if (to >= s.next) {
    // No batch to cut, but an epoch recorded at the end with none of its own (a leadership that wrote
    // nothing) goes: left listed, it would make every fetch of this follower diverge again.
    s.epochs.truncateFrom(to)
    return 0
  }
  const i = s.segmentIndexFor(to)
  while (s.segments.length > i + 1) {
    const seg = s.segments.pop()!
    const open = s.openOld.indexOf(seg)
    if (open >= 0) s.openOld.splice(open, 1)
    s.bytes -= seg.size
    seg.delete()
  }
  const seg = s.active
  const open = s.openOld.indexOf(seg)
  if (open >= 0) s.openOld.splice(open, 1)
  const index = s.indexOf(seg, i)
  // The cut is at the first good batch, or damaged stretch, that holds offsets at or past `to`: a cut
  // inside a batch takes the whole batch (the log ends where it began), and damage past the cut goes
  // with it (left in the file, it would lie before the next append and be reported at every open).
  let position = seg.size
  const cursor = s.cursorFor(seg, i, to, MIN_READ_WINDOW)
  for (let step = cursor.next(); step.kind !== 'end'; step = cursor.next()) {
    if (step.kind === 'batch') {
      const { position: at, header } = step.batch
      if (header.baseOffset + header.count <= to) continue
      position = at
      to = Math.min(to, header.baseOffset)
      break
    }
    const from = cursor.expectedOffset
    if (!step.known) s.recordDamage(seg, step.damage, from)
    if (step.damage.resumeOffset !== undefined && step.damage.resumeOffset <= to) continue
    position = step.damage.position
    to = Math.max(s.startOffset, Math.min(to, from))
    break
  }
  const dropped = s.next - to
  // Damage known past the cut is gone with it: new batches will be written where it was.
  for (const at of seg.damage.keys()) if (at >= position) seg.damage.delete(at)
  seg.reopenWritable()
  index.truncate(index.floorEntry(Math.max(0, to - seg.base - 1)) + 1)
  while (index.length > 0 && index.positionAt(index.length - 1) >= position) index.truncate(index.length - 1)
  index.rewrite()
  s.bytes -= seg.size - position
  seg.truncate(position)
  fsyncDir(s.dir)
  s.epochs.truncateFrom(to)
  s.next = to
  s.synced = Math.min(s.synced, to)
  if (s.syncInFlight && s.syncInFlight.target > to) s.syncInFlight.target = to
  s.cache.clear()
  for (let r = s.corruptRanges.length - 1; r >= 0; r--) if (s.corruptRanges[r]!.fromOffset >= to) s.corruptRanges.splice(r, 1)
  s.logFn({ level: 'warn', msg: 'log truncated to the leader', endOffset: to, dropped })
  return dropped
}
