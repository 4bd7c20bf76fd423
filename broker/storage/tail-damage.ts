/**
 * What the damaged end of the last segment is: a torn write, which recovery
 * cuts off, or corruption, which it keeps and reports. Called only for damage
 * with no good batch after it (damage followed by a good batch is damage in
 * the middle, whatever the file's end looks like).
 *
 * Torn (cut, logged as "log tail repaired"):
 * - fewer bytes than the smallest possible batch remain;
 * - a batch header (right magic) declares more bytes than remain, and the
 *   bytes that are there are not a whole batch with a damaged length field
 *   (checked: the CRC over what remains, with the length it should have);
 * - nothing but zero bytes remain: the file's size reached the disk, its data
 *   did not (some file systems after a power loss).
 * A torn batch was never confirmed under fsync=always: its write did not
 * finish, or the fdatasync that would have covered it did not.
 *
 * Corruption (kept, skipped on read, reported as a corrupt range: log line,
 * `stats().corrupt`, skiff_log_corrupt_offsets, `skiff topics describe`):
 * everything else, in particular a batch whose bytes are all there but whose
 * CRC, magic or records do not check. Its records may have been confirmed, so
 * it is never cut silently. Decision: the bytes stay in the file (evidence,
 * and what a salvage tool would need), and the offsets they may hold stay
 * taken: new appends go after them, so an offset a producer was told is never
 * given to another message. Good batches appended after it are read as usual
 * (to the reader it is damage in the middle from then on).
 *
 * How many offsets it holds. Reserving too many leaves a gap (reported as
 * corrupt offsets); too few would give a confirmed offset to a new message,
 * so every estimate errs high, assuming one damaged field (a bit flip, a
 * sector of garbage), not several:
 * - when its length field is the only damage (the CRC matches once the length
 *   is set to the bytes there), the header says exactly;
 * - when the bytes are exactly one batch by its length field, it starts at the
 *   expected offset and holds the larger of its count and the number of
 *   records its bytes parse into (a damaged count or a damaged record length
 *   cannot both be wrong);
 * - otherwise, as many as the bytes can hold: a batch of k records takes at
 *   least MIN_BATCH_HEADER_BYTES + k * MIN_RECORD_BYTES bytes, so n bytes hold
 *   at most (n - 44) / 10 offsets (44: the smaller header, of magic 1, since
 *   the damage may hide either magic). That bound caps the other two as well.
 *   When the magic byte itself is the damage, the records are parsed after
 *   each known header size and the larger count is taken.
 *
 * What the log alone cannot tell: a log that ends exactly at a batch boundary
 * looks complete whether or not batches after it were lost (a power loss
 * with fsync=never or interval, a disk that acknowledged writes it did not
 * keep, a file cut back by hand). Nothing in the file shows what is missing;
 * only evidence from outside can: a consumer group's saved position or a
 * producer's sequence beyond the recovered end.
 */
import { BATCH_HEADER_BYTES, BATCH_V1_HEADER_BYTES, batchHeaderBytes, MAX_BATCH_HEADER_BYTES, MIN_BATCH_HEADER_BYTES, readBatchHeader } from '../../protocol/batch.js'
import { countRecords } from '../../protocol/records.js'
import { crc32 } from 'node:zlib'
import { MIN_RECORD_BYTES } from './batch-cursor.js'
import { readAt } from './fs-util.js'

export const MIN_BATCH_BYTES = MIN_BATCH_HEADER_BYTES + MIN_RECORD_BYTES
const CHUNK_BYTES = 1 << 20

export type TailVerdict =
  | { kind: 'torn'; why: string }
  /** `endOffset`: the first offset after what the damaged bytes may hold: where appends continue. */
  | { kind: 'corrupt'; endOffset: number; why: string }

/** Judge the bytes [position, fileSize) of a segment, which hold no good batch; `expectedOffset` is the first they may hide. */
export function judgeTail(fd: number, position: number, fileSize: number, expectedOffset: number): TailVerdict {
  const remaining = fileSize - position
  if (remaining < MIN_BATCH_BYTES) return { kind: 'torn', why: `torn: ${remaining} bytes remain, less than a batch` }
  if (allZero(fd, position, fileSize)) return { kind: 'torn', why: `torn: ${remaining} zero bytes (written size, unwritten data)` }
  const h = readBatchHeader(readAt(fd, position, Math.min(MAX_BATCH_HEADER_BYTES, remaining)))
  // A magic-2 header cut before its epoch: nothing after it was written.
  if (!h) return { kind: 'torn', why: `torn: ${remaining} bytes remain, less than a header` }
  const upperBound = expectedOffset + Math.floor((remaining - MIN_BATCH_HEADER_BYTES) / MIN_RECORD_BYTES)
  const within = (end: number) => (end > expectedOffset && end <= upperBound ? end : upperBound)
  if (h.size !== remaining && crcMatchesWithLength(fd, position, fileSize, h.crc)) {
    // Whole, and intact but for its length field (the CRC says so): the rest of the header is right.
    return { kind: 'corrupt', endOffset: within(h.baseOffset + h.count), why: `length field damaged: declares ${h.size} bytes, the batch has ${remaining}` }
  }
  if (batchHeaderBytes(h.magic) !== 0 && h.size > remaining) return { kind: 'torn', why: `torn batch: declares ${h.size} bytes, ${remaining} remain` }
  if (h.size === remaining) {
    // Exactly one batch, so it starts at the expected offset (its base field may be the damaged one).
    // Its count, or the records its bytes parse into, whichever is more: one of them is undamaged.
    const count = Math.max(h.count, recordsIn(fd, position, fileSize, h.magic))
    return { kind: 'corrupt', endOffset: within(expectedOffset + count), why: 'complete batch fails its checks' }
  }
  return { kind: 'corrupt', endOffset: upperBound, why: 'complete bytes that are not one batch' }
}

function allZero(fd: number, from: number, to: number): boolean {
  for (let at = from; at < to; at += CHUNK_BYTES) {
    const chunk = readAt(fd, at, Math.min(CHUNK_BYTES, to - at))
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return false
    if (chunk.length === 0) break
  }
  return true
}

/** The batch CRC (protocol/batch.ts: bytes [0,12) then [16,end)) over [position, end) with the length field set to fit. */
function crcMatchesWithLength(fd: number, position: number, end: number, stored: number): boolean {
  const head = Buffer.from(readAt(fd, position, 12))
  head.writeUInt32BE(end - position - 12, 8)
  let crc = crc32(head)
  for (let at = position + 16; at < end; at += CHUNK_BYTES) {
    const chunk = readAt(fd, at, Math.min(CHUNK_BYTES, end - at))
    if (chunk.length === 0) return false
    crc = crc32(chunk, crc)
  }
  return crc === stored
}

/**
 * How many records the bytes after the header parse into, by their own length
 * prefixes; -1 when they do not parse. For a magic we do not know (the magic
 * byte is what was damaged), after each known header size, the larger count.
 */
function recordsIn(fd: number, position: number, end: number, magic: number): number {
  const known = batchHeaderBytes(magic)
  const sizes = known !== 0 ? [known] : [BATCH_V1_HEADER_BYTES, BATCH_HEADER_BYTES]
  let most = -1
  for (const headerBytes of sizes) {
    if (end - position < headerBytes) continue
    try {
      most = Math.max(most, countRecords(readAt(fd, position + headerBytes, end - position - headerBytes)))
    } catch {
      // Not records from here: try the other layout.
    }
  }
  return most
}
