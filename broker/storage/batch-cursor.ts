/**
 * Walks the batches of one segment file, checking each one (plausible header,
 * offsets not going backwards, CRC, records matching the count), and finds
 * its way past damage: when a batch is bad, it scans forward byte by byte for
 * the next position where a batch with a valid CRC and a plausible offset
 * starts. Both recovery (which truncates a damaged tail) and reads (which skip
 * damage in the middle) are built on it, so "what is a good batch" is decided
 * in one place. Both batch magics (protocol/batch.ts) are good batches: a
 * log written before the leader epoch, or one continued in the new layout
 * after an upgrade, reads, recovers and is damage-checked as one.
 *
 * Buffers handed out are slices of freshly allocated read windows that are
 * never reused, so records sliced from them stay valid for their holders.
 */
import { BATCH_MAGIC, BATCH_MAGIC_V1, batchCrc, batchHeaderBytes, MAX_BATCH_HEADER_BYTES, MIN_BATCH_HEADER_BYTES, readBatchHeader, recordsFill, type BatchHeader } from '../../protocol/batch.js'
import { RECORD_OVERHEAD } from '../../protocol/records.js'
import { readAt } from './fs-util.js'

/** Smallest possible record: u32 length, u16 key length, u32 headers length. */
export const MIN_RECORD_BYTES = RECORD_OVERHEAD
/** How much of the file a resynchronising scan reads at a time. */
const SCAN_CHUNK_BYTES = 1 << 20

export interface ScannedBatch {
  /** File position of the batch. */
  position: number
  header: BatchHeader
  /** The whole batch, header included. */
  bytes: Buffer
}

/** What a reader learned about a damaged stretch of a segment, remembered so it is scanned and logged once. */
export interface Damage {
  position: number
  reason: string
  /** Position of the next good batch, or the file size when none follows. */
  resumeAt: number
  /** Base offset of that batch, or undefined when none follows. */
  resumeOffset: number | undefined
}

export type CursorStep =
  | { kind: 'batch'; batch: ScannedBatch }
  | { kind: 'damaged'; damage: Damage; known: boolean }
  | { kind: 'end' }

export interface CursorOptions {
  fd: number
  fileSize: number
  /** Where to start: the position of a batch (0 or an index entry). */
  position: number
  /** Lowest base offset the next batch may carry. */
  expectedOffset: number
  /** Offsets in this segment are below this (the next segment's base), or Infinity when unknown. */
  upperOffset: number
  /** Size of a read window; a larger batch gets a window of its own. */
  windowBytes: number
  /** Damage found earlier in this file, by position: skipped without rescanning. */
  known?: Map<number, Damage> | undefined
}

export class BatchCursor {
  position: number
  expectedOffset: number
  private window: Buffer = Buffer.alloc(0)
  private windowStart = 0
  /** The last check, so startsWith() and the next() after it check the batch once. */
  private checked: { at: number; result: { batch: ScannedBatch } | { problem: string } } | undefined

  constructor(private readonly o: CursorOptions) {
    this.position = o.position
    this.expectedOffset = o.expectedOffset
  }

  next(): CursorStep {
    const at = this.position
    if (at >= this.o.fileSize) return { kind: 'end' }
    const known = this.o.known?.get(at)
    if (known) {
      this.position = known.resumeAt
      return { kind: 'damaged', damage: known, known: true }
    }
    const checked = this.checked?.at === at ? this.checked.result : this.check(at)
    this.checked = undefined
    if ('batch' in checked) {
      this.position = at + checked.batch.header.size
      this.expectedOffset = checked.batch.header.baseOffset + checked.batch.header.count
      return { kind: 'batch', batch: checked.batch }
    }
    const next = this.findNextGood(at + 1)
    const damage: Damage = {
      position: at,
      reason: checked.problem,
      resumeAt: next ? next.position : this.o.fileSize,
      resumeOffset: next?.header.baseOffset,
    }
    this.position = damage.resumeAt
    return { kind: 'damaged', damage, known: false }
  }

  /**
   * True when the cursor stands on a good batch (magic, plausible header, CRC,
   * records) whose base offset is exactly `offset`. This is the check an index
   * entry passes before it is used: the index is a hint, and an entry that
   * points anywhere else must neither skip records nor report damage.
   */
  startsWith(offset: number): boolean {
    const at = this.position
    if (at >= this.o.fileSize || this.o.known?.has(at)) return false
    const result = this.check(at)
    this.checked = { at, result }
    return 'batch' in result && result.batch.header.baseOffset === offset
  }

  /** The batch at `at` when it is good, else what is wrong with it. */
  private check(at: number): { batch: ScannedBatch } | { problem: string } {
    const remaining = this.o.fileSize - at
    if (remaining < MIN_BATCH_HEADER_BYTES) return { problem: `torn header: ${remaining} bytes remain` }
    const header = readBatchHeader(this.bytesAt(at, Math.min(MAX_BATCH_HEADER_BYTES, remaining)))
    // Too short for its magic's header, or a file that shrank under us and reads short: a torn header.
    if (!header) return { problem: remaining < MAX_BATCH_HEADER_BYTES ? `torn header: ${remaining} bytes remain` : 'torn header: the file ends early' }
    const problem = headerProblem(header, at, this.o.fileSize, this.expectedOffset, this.o.upperOffset)
    if (problem) return { problem }
    const bytes = this.bytesAt(at, header.size)
    if (batchCrc(bytes) !== header.crc) return { problem: 'CRC mismatch' }
    if (!recordsFit(bytes, header.count)) return { problem: 'records do not match the batch count' }
    return { batch: { position: at, header, bytes } }
  }

  /** Bytes [at, at+len) of the file, from the current window or a fresh one. */
  private bytesAt(at: number, len: number): Buffer {
    const off = at - this.windowStart
    if (off >= 0 && off + len <= this.window.length) return this.window.subarray(off, off + len)
    const want = Math.min(Math.max(len, this.o.windowBytes), this.o.fileSize - at)
    this.window = readAt(this.o.fd, at, want)
    this.windowStart = at
    return this.window.subarray(0, Math.min(len, this.window.length))
  }

  /** First position >= `from` where a good batch starts, scanning in chunks that overlap by a header. */
  private findNextGood(from: number): ScannedBatch | undefined {
    const last = this.o.fileSize - MIN_BATCH_HEADER_BYTES
    for (let chunkStart = from; chunkStart <= last; chunkStart += SCAN_CHUNK_BYTES) {
      const chunk = readAt(this.o.fd, chunkStart, Math.min(SCAN_CHUNK_BYTES + MIN_BATCH_HEADER_BYTES, this.o.fileSize - chunkStart))
      const stop = Math.min(SCAN_CHUNK_BYTES, chunk.length - MIN_BATCH_HEADER_BYTES + 1)
      for (let i = 0; i < stop; i++) {
        // Cheap filter first: magic, attributes and reserved bytes of a header.
        const magic = chunk[i + 16]
        if ((magic !== BATCH_MAGIC && magic !== BATCH_MAGIC_V1) || chunk[i + 17] !== 0 || chunk[i + 18] !== 0 || chunk[i + 19] !== 0) continue
        const checked = this.check(chunkStart + i)
        if ('batch' in checked) return checked.batch
      }
    }
    return undefined
  }
}

/**
 * The good batches a cursor finds, in order; each damaged stretch seen for the
 * first time is handed to `onDamage` (with the offset expected there) and skipped.
 */
export function* goodBatches(cursor: BatchCursor, onDamage: (damage: Damage, expectedOffset: number) => void): Generator<ScannedBatch> {
  for (;;) {
    const step = cursor.next()
    if (step.kind === 'end') return
    if (step.kind === 'damaged') {
      if (!step.known) onDamage(step.damage, cursor.expectedOffset)
      continue
    }
    yield step.batch
  }
}

/** What makes a header implausible at `position`, or undefined when it could be a batch. */
export function headerProblem(h: BatchHeader, position: number, fileSize: number, expectedOffset: number, upperOffset: number): string | undefined {
  const headerBytes = batchHeaderBytes(h.magic)
  if (headerBytes === 0) return `bad magic ${h.magic}`
  if (h.count < 1) return 'batch of zero records'
  if (h.size < headerBytes + h.count * MIN_RECORD_BYTES) return `declared size ${h.size} is too small for ${h.count} records`
  if (h.baseOffset < expectedOffset) return `base offset ${h.baseOffset} is below the expected ${expectedOffset}`
  if (h.baseOffset + h.count > upperOffset) return `offsets ${h.baseOffset}+${h.count} pass the segment's end ${upperOffset}`
  if (position + h.size > fileSize) return `torn batch: declares ${h.size} bytes, ${fileSize - position} remain`
  return undefined
}

/** True when the records after the header (of the batch's magic, already checked) are exactly `count` length-prefixed records. */
export function recordsFit(batch: Buffer, count: number): boolean {
  return recordsFill(batch, batchHeaderBytes(batch[16]!), count)
}

/** Call `visit` with each record of a good batch (a view including its u32 length prefix) and its offset. */
export function forEachRecord(batch: Buffer, baseOffset: number, visit: (offset: number, record: Buffer) => boolean | void): void {
  let pos = batchHeaderBytes(batch[16]!)
  let offset = baseOffset
  while (pos < batch.length) {
    const end = pos + 4 + batch.readUInt32BE(pos)
    if (visit(offset, batch.subarray(pos, end)) === false) return
    pos = end
    offset++
  }
}
