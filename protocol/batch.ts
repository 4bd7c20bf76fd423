/**
 * Record batch: the unit of the on-disk log, and the unit replication will
 * copy between brokers verbatim (bytes as stored, CRC checked by the
 * receiver). A fixed header, then `count` records in the record encoding.
 *
 * Magic 2 (what the broker writes), 48-byte header:
 *
 *   off  size  field
 *   0    u64   baseOffset      offset of the first record
 *   8    u32   length          bytes after this field (header rest + records)
 *   12   u32   crc             CRC-32 (zlib) of bytes [0,12) then [16,end)
 *   16   u8    magic           2
 *   17   u8    attributes      0 (reserved: compression, transactional)
 *   18   u16   reserved        0
 *   20   u32   count           records in the batch (>= 1)
 *   24   u64   timestamp       broker append time, ms since the epoch
 *   32   u64   producerId      0 = none (idempotent producer)
 *   40   u32   baseSequence    0xFFFFFFFF = none
 *   44   u32   leaderEpoch     epoch of the partition leader that appended it
 *   48   ...   records
 *
 * Magic 1 (written by releases before the leader epoch) is the same without
 * leaderEpoch: a 44-byte header, records at 44. It still reads everywhere and
 * counts as leader epoch 0.
 *
 * Decisions:
 * - The epoch goes after the fields both magics share, so every common field
 *   keeps its place and a reader tells the layouts apart by the magic alone.
 * - Unlike Kafka (whose partitionLeaderEpoch lies outside the CRC so a leader
 *   can stamp it without recomputing), the CRC covers the epoch: the broker
 *   encodes each batch anyway, and an epoch flipped on disk must be caught,
 *   since truncation decisions rest on it.
 * - Epoch 0 means "no cluster leader epoch yet": a single-node broker writes
 *   it (more exactly, the latest epoch its partition has recorded, which is 0
 *   unless the data dir was ever in a cluster); cluster mode starts at 1.
 */
import { crc32 } from 'node:zlib'
import { RECORD_OVERHEAD } from './records.js'

/** The magic the broker writes. */
export const BATCH_MAGIC = 2
/** The layout before the leader epoch: still read, never written by the broker. */
export const BATCH_MAGIC_V1 = 1
/** Header size of BATCH_MAGIC. */
export const BATCH_HEADER_BYTES = 48
/** Header size of BATCH_MAGIC_V1. */
export const BATCH_V1_HEADER_BYTES = 44
/** The smallest header of any magic: the bytes a reader needs before it knows which layout it holds. */
export const MIN_BATCH_HEADER_BYTES = BATCH_V1_HEADER_BYTES
/** The largest header of any magic. */
export const MAX_BATCH_HEADER_BYTES = BATCH_HEADER_BYTES
export const NO_SEQUENCE = 0xffffffff
export const MAX_LEADER_EPOCH = 0xffffffff

export interface BatchHeader {
  baseOffset: number
  /** Total bytes of the batch on disk, header included. */
  size: number
  crc: number
  magic: number
  count: number
  timestamp: number
  producerId: number
  baseSequence: number
  /** 0 for magic 1 (and for a single node that was never in a cluster). */
  leaderEpoch: number
}

export interface BatchInput {
  baseOffset: number
  count: number
  timestamp: number
  records: Uint8Array
  producerId?: number
  baseSequence?: number
  /** Default 0. */
  leaderEpoch?: number
  /** Default BATCH_MAGIC. Magic 1 exists for tests and tools that must produce the old layout; it has no epoch to carry. */
  magic?: number
}

/** Header bytes of a batch of `magic`, or 0 when the magic is not one we know. */
export function batchHeaderBytes(magic: number): number {
  return magic === BATCH_MAGIC ? BATCH_HEADER_BYTES : magic === BATCH_MAGIC_V1 ? BATCH_V1_HEADER_BYTES : 0
}

export function encodeBatch(b: BatchInput): Buffer {
  const headerBytes = writableHeaderBytes(b)
  const out = Buffer.allocUnsafe(headerBytes + b.records.length)
  writeBatchHeader(out, 0, b)
  out.set(b.records, headerBytes)
  out.writeUInt32BE(batchCrc(out), 12)
  return out
}

/** Write a header (crc left 0) at `at`; for builders that place records themselves (at `at` + the header size). */
export function writeBatchHeader(out: Buffer, at: number, b: Omit<BatchInput, 'records'> & { recordsLength: number } | BatchInput): void {
  const recordsLength = 'records' in b ? b.records.length : b.recordsLength
  const headerBytes = writableHeaderBytes(b)
  out.writeBigUInt64BE(BigInt(b.baseOffset), at)
  out.writeUInt32BE(headerBytes - 12 + recordsLength, at + 8)
  out.writeUInt32BE(0, at + 12)
  out[at + 16] = b.magic ?? BATCH_MAGIC
  out[at + 17] = 0
  out.writeUInt16BE(0, at + 18)
  out.writeUInt32BE(b.count, at + 20)
  out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(b.timestamp))), at + 24)
  out.writeBigUInt64BE(BigInt(b.producerId ?? 0), at + 32)
  out.writeUInt32BE(b.baseSequence ?? NO_SEQUENCE, at + 40)
  if (headerBytes === BATCH_HEADER_BYTES) out.writeUInt32BE(b.leaderEpoch ?? 0, at + 44)
}

/** The header size for the input's magic; throws for a magic we cannot write or an epoch magic 1 cannot carry. */
function writableHeaderBytes(b: { magic?: number; leaderEpoch?: number }): number {
  const magic = b.magic ?? BATCH_MAGIC
  const bytes = batchHeaderBytes(magic)
  if (bytes === 0) throw new RangeError(`cannot write a batch of magic ${magic}`)
  if (magic === BATCH_MAGIC_V1 && (b.leaderEpoch ?? 0) !== 0) throw new RangeError(`a magic ${magic} batch has no leader epoch, got ${b.leaderEpoch}`)
  return bytes
}

/** CRC of a whole batch (bytes [0,12) and [16,end)). */
export function batchCrc(batch: Uint8Array): number {
  return crc32(batch.subarray(16), crc32(batch.subarray(0, 12)))
}

/**
 * Read a header at `at`; null when fewer bytes remain than the header of its
 * magic needs (MIN_BATCH_HEADER_BYTES for a magic we do not know, whose
 * common fields are read as if it were magic 1, epoch 0, for callers to
 * refuse by its magic). Does not check the CRC.
 */
export function readBatchHeader(buf: Buffer, at = 0): BatchHeader | null {
  const remaining = buf.length - at
  if (remaining < MIN_BATCH_HEADER_BYTES) return null
  const magic = buf[at + 16]!
  const hasEpoch = magic === BATCH_MAGIC
  if (hasEpoch && remaining < BATCH_HEADER_BYTES) return null
  return {
    baseOffset: Number(buf.readBigUInt64BE(at)),
    size: buf.readUInt32BE(at + 8) + 12,
    crc: buf.readUInt32BE(at + 12),
    magic,
    count: buf.readUInt32BE(at + 20),
    timestamp: Number(buf.readBigUInt64BE(at + 24)),
    producerId: Number(buf.readBigUInt64BE(at + 32)),
    baseSequence: buf.readUInt32BE(at + 40),
    leaderEpoch: hasEpoch ? buf.readUInt32BE(at + 44) : 0,
  }
}

/**
 * True when `batch` is exactly one batch of a known magic whose CRC matches
 * and whose records are exactly `count` length-prefixed records (so a header
 * relabelled with the other magic does not pass on its CRC alone).
 */
export function verifyBatch(batch: Buffer): boolean {
  const h = readBatchHeader(batch)
  if (!h || h.size !== batch.length || h.count < 1) return false
  const headerBytes = batchHeaderBytes(h.magic)
  if (headerBytes === 0 || h.size < headerBytes) return false
  if (batchCrc(batch) !== h.crc) return false
  return recordsFill(batch, headerBytes, h.count)
}

/** True when batch[from, end) is exactly `count` length-prefixed records (their lengths only; contents are the reader's). */
export function recordsFill(batch: Buffer, from: number, count: number): boolean {
  let pos = from
  for (let i = 0; i < count; i++) {
    if (batch.length - pos < RECORD_OVERHEAD) return false
    const len = batch.readUInt32BE(pos)
    if (len < RECORD_OVERHEAD - 4) return false
    pos += 4 + len
  }
  return pos === batch.length
}
