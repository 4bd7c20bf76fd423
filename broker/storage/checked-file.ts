/**
 * The small metadata files the storage engine keeps beside the logs (a
 * group's state, the groups manifest, the leader-epochs file) share one
 * frame: a 16-byte header, then the body.
 *
 *   0   4 bytes  magic naming the kind of file
 *   4   u8       version (1), then 3 zero bytes
 *   8   u32      body length
 *   12  u32      CRC-32 of the body
 *
 * A file is written whole to a temporary name (fs-util.ts writeSynced),
 * fsynced and renamed by the callers, so a reader sees either the old file or the new one; a group's
 * periodic state save instead overwrites the older of its two files in place (group-state.ts). The
 * header tells a torn or damaged file from a good one, and says what is wrong.
 */
import { readFileSync } from 'node:fs'
import { crc32 } from 'node:zlib'

const VERSION = 1
export const CHECKED_HEADER_BYTES = 16

/** Header and body as one buffer. */
export function encodeChecked(magic: Buffer, body: Buffer): Buffer {
  const file = Buffer.allocUnsafe(CHECKED_HEADER_BYTES + body.length)
  magic.copy(file, 0)
  file.writeUInt32BE(VERSION << 24, 4)
  file.writeUInt32BE(body.length, 8)
  file.writeUInt32BE(crc32(body), 12)
  body.copy(file, CHECKED_HEADER_BYTES)
  return file
}

/**
 * The body of the file at `path`, or what is wrong with it ('missing' when
 * there is none). A body of fixed-size entries (`entryBytes`) must hold
 * whole ones. Only fs errors other than ENOENT throw.
 */
export function readChecked(path: string, magic: Buffer, entryBytes = 1): { body?: Buffer; problem?: string } {
  let file: Buffer
  try {
    file = readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { problem: 'missing' }
    throw err
  }
  if (file.length < CHECKED_HEADER_BYTES) return { problem: `torn: ${file.length} bytes` }
  if (!file.subarray(0, 4).equals(magic)) return { problem: 'bad magic' }
  if (file[4] !== VERSION) return { problem: `unknown version ${file[4]}` }
  if (file[5] !== 0 || file[6] !== 0 || file[7] !== 0) return { problem: 'reserved header bytes are not zero' }
  const length = file.readUInt32BE(8)
  if (file.length !== CHECKED_HEADER_BYTES + length) return { problem: `torn: body of ${file.length - CHECKED_HEADER_BYTES} bytes, header says ${length}` }
  if (length % entryBytes !== 0) return { problem: `body of ${length} bytes is not whole entries` }
  const body = file.subarray(CHECKED_HEADER_BYTES)
  if (crc32(body) !== file.readUInt32BE(12)) return { problem: 'CRC mismatch' }
  return { body }
}
