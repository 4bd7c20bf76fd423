/**
 * Record encoding, shared by PUBLISH bodies, DELIVER bodies, the on-disk log
 * and UDP telemetry datagrams, so a record is encoded once by its producer and
 * never re-encoded on its way to a consumer.
 *
 *   u32 length        bytes that follow in this record
 *   u16 keyLength     0 = no key
 *   ... key           UTF-8
 *   u32 headersLength 0 = no headers
 *   ... headers       MessagePack map of string -> string
 *   ... payload       the rest (length - 2 - keyLength - 4 - headersLength bytes)
 *
 * A records blob is records laid end to end; its count travels beside it.
 */
import { u16, u32 } from './bytes.js'
import { SkiffError } from './errors.js'
import { pack, unpack } from './codec.js'

export const RECORD_OVERHEAD = 10
export const MAX_KEY_BYTES = 0xffff

export type Headers = Record<string, string>

export interface RecordInput {
  key?: string | undefined
  headers?: Headers | undefined
  payload: Uint8Array
}

export interface DecodedRecord {
  key: string | undefined
  headers: Headers
  payload: Buffer
}

/** Bytes of one record in a Buffer of its own. */
export function encodeRecord(rec: RecordInput): Buffer {
  const w = new RecordWriter()
  w.measure(rec.key, rec.headers, rec.payload)
  return w.toBuffer()
}

/**
 * encodeRecord in two steps, so a caller can write a record straight into a
 * larger buffer (the producer's open batch) without a Buffer of its own:
 * `measure` checks the record and sets `length`, then `writeTo` writes it.
 * One writer serves any number of records, one at a time (nothing is
 * allocated per record unless it has headers).
 */
export class RecordWriter {
  /** Bytes of the measured record, its length field included. */
  length = 0
  private key: string | undefined = undefined
  private keyLen = 0
  private headers: Buffer | undefined = undefined
  private payload: Uint8Array = EMPTY

  /** Check a record and remember it for writeTo; INVALID_REQUEST for a key past MAX_KEY_BYTES. Returns its length. */
  measure(key: string | undefined, headers: Headers | undefined, payload: Uint8Array): number {
    const keyLen = key === undefined ? 0 : Buffer.byteLength(key, 'utf8')
    if (keyLen > MAX_KEY_BYTES) throw new SkiffError('INVALID_REQUEST', `key of ${keyLen} bytes exceeds ${MAX_KEY_BYTES}`)
    this.headers = headers !== undefined && hasOwnKeys(headers) ? pack(headers) : undefined
    this.key = keyLen > 0 ? key : undefined
    this.keyLen = keyLen
    this.payload = payload
    this.length = RECORD_OVERHEAD + keyLen + (this.headers?.length ?? 0) + payload.length
    return this.length
  }

  /** Write the measured record at `pos` (out must have `length` bytes there); returns the position after it. */
  writeTo(out: Buffer, pos: number): number {
    const keyLen = this.keyLen
    const hdrLen = this.headers === undefined ? 0 : this.headers.length
    // Byte stores rather than writeUInt32BE/16BE: this runs once per record
    // published, and those check their arguments on every call.
    putU32(out, pos, this.length - 4)
    out[pos + 4] = keyLen >>> 8
    out[pos + 5] = keyLen
    if (keyLen > 0) out.write(this.key!, pos + 6, keyLen, 'utf8')
    putU32(out, pos + 6 + keyLen, hdrLen)
    if (this.headers !== undefined) out.set(this.headers, pos + 10 + keyLen)
    out.set(this.payload, pos + 10 + keyLen + hdrLen)
    return pos + this.length
  }

  /** The measured record in a Buffer of its own. */
  toBuffer(): Buffer {
    const out = Buffer.allocUnsafe(this.length)
    this.writeTo(out, 0)
    return out
  }
}

const EMPTY = new Uint8Array(0)

/** Big-endian u32 (a Uint8Array store keeps the low 8 bits). */
function putU32(out: Uint8Array, pos: number, v: number): void {
  out[pos] = v >>> 24
  out[pos + 1] = v >>> 16
  out[pos + 2] = v >>> 8
  out[pos + 3] = v
}

/** Object.keys(h).length > 0 without building the array. */
function hasOwnKeys(h: object): boolean {
  for (const k in h) if (Object.hasOwn(h, k)) return true
  return false
}

/** Where one record's parts lie inside a blob, without decoding them. */
export interface RecordView {
  /** Start of the record (its length field) in the blob. */
  start: number
  /** End of the record (exclusive). */
  end: number
  keyStart: number
  keyEnd: number
  headersStart: number
  headersEnd: number
}

/**
 * Walk a records blob, checking every length against the bytes that remain.
 * Throws INVALID_REQUEST when the blob is not exactly `count` well-formed
 * records. Calls `visit` for each record.
 */
export function walkRecords(blob: Uint8Array, count: number, visit?: (v: RecordView, i: number) => void): void {
  let pos = 0
  for (let i = 0; i < count; i++) {
    const v = recordAt(blob, pos, i)
    visit?.(v, i)
    pos = v.end
  }
  if (pos !== blob.length) throw bad(`${blob.length - pos} bytes follow the last of ${count} records`)
}

/**
 * Count the records in a blob (for the readers of logs and datagrams), with
 * the same checks as walkRecords: a blob it counts, walkRecords accepts.
 */
export function countRecords(blob: Uint8Array): number {
  let pos = 0
  let n = 0
  while (pos < blob.length) pos = recordAt(blob, pos, n++).end
  return n
}

/** Check the record starting at `pos` (record number `i`, for messages) and say where its parts lie. */
function recordAt(b: Uint8Array, pos: number, i: number): RecordView {
  if (b.length - pos < RECORD_OVERHEAD) throw bad(`record ${i} is truncated`)
  const len = u32(b, pos)
  const end = pos + 4 + len
  if (len < RECORD_OVERHEAD - 4 || end > b.length) throw bad(`record ${i} declares ${len} bytes, beyond the blob`)
  const keyLen = u16(b, pos + 4)
  const keyStart = pos + 6
  const keyEnd = keyStart + keyLen
  if (keyEnd + 4 > end) throw bad(`record ${i} key overruns the record`)
  const hdrLen = u32(b, keyEnd)
  const headersStart = keyEnd + 4
  const headersEnd = headersStart + hdrLen
  if (headersEnd > end) throw bad(`record ${i} headers overrun the record`)
  return { start: pos, end, keyStart, keyEnd, headersStart, headersEnd }
}

export function decodeRecord(blob: Uint8Array, v?: RecordView): DecodedRecord {
  const buf = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength)
  if (!v) {
    // walkRecords(buf, 1) without the callback: one record that fills the blob
    v = recordAt(buf, 0, 0)
    if (v.end !== buf.length) throw bad(`${buf.length - v.end} bytes follow the last of 1 records`)
  }
  const key = v.keyEnd > v.keyStart ? buf.toString('utf8', v.keyStart, v.keyEnd) : undefined
  const headers = v.headersEnd > v.headersStart ? readHeaders(buf.subarray(v.headersStart, v.headersEnd)) : {}
  return { key, headers, payload: buf.subarray(v.headersEnd, v.end) }
}

/** Decode every record of a blob. */
export function decodeRecords(blob: Uint8Array, count: number): DecodedRecord[] {
  const out: DecodedRecord[] = []
  walkRecords(blob, count, (v) => out.push(decodeRecord(blob, v)))
  return out
}

/**
 * Headers are untrusted bytes inside a well-delimited frame: bad ones make a
 * bad record (INVALID_REQUEST), not a bad frame. They must be a MessagePack
 * map of string keys to string values, with no extension type anywhere
 * (unpack's check refuses those before decoding), so what is stored is what
 * a consumer in any language can read back.
 */
export function readHeaders(bytes: Uint8Array): Headers {
  let value: unknown
  try {
    value = unpack(bytes, 'record headers')
  } catch (err) {
    throw new SkiffError('INVALID_REQUEST', `malformed records: headers are not MessagePack of the protocol's grammar (${(err as Error).message})`, { cause: err })
  }
  return toHeaders(value)
}

function toHeaders(value: unknown): Headers {
  // A map decodes to a plain object; bin (a Buffer) and arrays are objects too, and not maps.
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) throw bad('headers are not a map')
  const out: Headers = {}
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw bad(`header ${k} is not a string`)
    out[k] = v
  }
  return out
}

function bad(msg: string): SkiffError {
  return new SkiffError('INVALID_REQUEST', `malformed records: ${msg}`)
}

/** Stable hash of a key (FNV-1a, 32 bit) for choosing a partition. */
export function keyHash(key: Uint8Array): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key[i]!
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** Stable hash of a string (FNV-1a over UTF-8). */
export function stringHash(s: string): number {
  return keyHash(Buffer.from(s, 'utf8'))
}
