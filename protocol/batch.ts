/**
 * Record batch: the unit of the on-disk log (and of replication, later).
 * Fixed 44-byte header, then `count` records in the record encoding.
 *
 *   off  size  field
 *   0    u64   baseOffset      offset of the first record
 *   8    u32   length          bytes after this field (header rest + records)
 *   12   u32   crc             CRC-32 (zlib) of bytes [0,12) then [16,end)
 *   16   u8    magic           1
 *   17   u8    attributes      0 (reserved: compression, transactional)
 *   18   u16   reserved        0
 *   20   u32   count           records in the batch (>= 1)
 *   24   u64   timestamp       broker append time, ms since the epoch
 *   32   u64   producerId      0 = none (idempotent producer)
 *   40   u32   baseSequence    0xFFFFFFFF = none
 *   44   ...   records
 */
import { crc32 } from 'node:zlib'

export const BATCH_HEADER_BYTES = 44
export const BATCH_MAGIC = 1
export const NO_SEQUENCE = 0xffffffff

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
}

export interface BatchInput {
  baseOffset: number
  count: number
  timestamp: number
  records: Uint8Array
  producerId?: number
  baseSequence?: number
}

export function encodeBatch(b: BatchInput): Buffer {
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + b.records.length)
  writeBatchHeader(out, 0, b)
  out.set(b.records, BATCH_HEADER_BYTES)
  out.writeUInt32BE(batchCrc(out), 12)
  return out
}

/** Write a header (crc left 0) at `at`; for builders that place records themselves. */
export function writeBatchHeader(out: Buffer, at: number, b: Omit<BatchInput, 'records'> & { recordsLength: number } | BatchInput): void {
  const recordsLength = 'records' in b ? b.records.length : b.recordsLength
  out.writeBigUInt64BE(BigInt(b.baseOffset), at)
  out.writeUInt32BE(BATCH_HEADER_BYTES - 12 + recordsLength, at + 8)
  out.writeUInt32BE(0, at + 12)
  out[at + 16] = BATCH_MAGIC
  out[at + 17] = 0
  out.writeUInt16BE(0, at + 18)
  out.writeUInt32BE(b.count, at + 20)
  out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(b.timestamp))), at + 24)
  out.writeBigUInt64BE(BigInt(b.producerId ?? 0), at + 32)
  out.writeUInt32BE(b.baseSequence ?? NO_SEQUENCE, at + 40)
}

/** CRC of a whole batch (bytes [0,12) and [16,end)). */
export function batchCrc(batch: Uint8Array): number {
  return crc32(batch.subarray(16), crc32(batch.subarray(0, 12)))
}

/** Read a header at `at`; null when fewer than BATCH_HEADER_BYTES remain. Does not check the CRC. */
export function readBatchHeader(buf: Buffer, at = 0): BatchHeader | null {
  if (buf.length - at < BATCH_HEADER_BYTES) return null
  return {
    baseOffset: Number(buf.readBigUInt64BE(at)),
    size: buf.readUInt32BE(at + 8) + 12,
    crc: buf.readUInt32BE(at + 12),
    magic: buf[at + 16]!,
    count: buf.readUInt32BE(at + 20),
    timestamp: Number(buf.readBigUInt64BE(at + 24)),
    producerId: Number(buf.readBigUInt64BE(at + 32)),
    baseSequence: buf.readUInt32BE(at + 40),
  }
}

/** True when the header is plausible and the CRC over `batch` (exactly one batch) matches. */
export function verifyBatch(batch: Buffer): boolean {
  const h = readBatchHeader(batch)
  if (!h || h.magic !== BATCH_MAGIC || h.size !== batch.length || h.count < 1) return false
  return batchCrc(batch) === h.crc
}
