/**
 * The binary layout of the hot thread ops (thread-codec.ts writes and reads
 * it; thread-messages.ts declares the ops).
 *
 * Layout: entries back to back, each a u8 tag and its fields; u32 and u16
 * little-endian, f64 in the host's order (both ends are threads of one process).
 *   f64  any number that can pass 2^32 (ids grow forever; offsets, producer
 *        ids up to 2^48, connection and subscription ids, delays), and any
 *        number a peer chose: a float64 holds every JS number exactly
 *   u32  partition and record count (checked to fit: a hot op whose fields do
 *        not fit its layout goes as GENERIC, see thread-codec.ts)
 *   str  u16 byte length + UTF-8
 *   bin  u32 byte length + bytes
 *
 *   GENERIC      u32 length + msgpackr bytes of the whole op
 *   PUB          f64 id, str topic, u32 partition, u32 count, u8 flags
 *                (1 confirm, 2 producerId present, 4 sequence present),
 *                [f64 producerId], [f64 sequence], bin records
 *   SETTLE       f64 conn, f64 sub, str topic, u32 partition, str group,
 *                u8 kind (index in ACK_KINDS), f64 delayMs, u32 n, n x f64 ranges
 *   OUT          f64 conn, bin bytes
 *   OUT_ATTACHED f64 conn, u32 attachment, u32 byte offset, u32 length: the
 *                bytes are a view of the message's attachment (an ArrayBuffer
 *                transferred beside the ops' own, see thread-codec.ts)
 *   DONE_NUMBER  f64 id, f64 result
 *   DONE_NULL    f64 id
 *   DONE_UNDEF   f64 id
 */
import type { Op } from './thread-messages.js'

/** Entry tags. */
export const GENERIC = 0
export const PUB = 1
export const SETTLE = 2
export const OUT = 3
export const DONE_NUMBER = 4
export const DONE_NULL = 5
export const DONE_UNDEF = 6
export const OUT_ATTACHED = 7

/** PUB flags. */
export const CONFIRM = 1
export const HAS_PRODUCER_ID = 2
export const HAS_SEQUENCE = 4

export const MAX_STRING_BYTES = 0xffff
/** Strings up to this many UTF-16 units are measured and written in JS (topic and group names); longer ones by Buffer. */
export const SHORT_STRING = 64

// The hot ops as the encoder reads them: any field may hold anything, and
// the size pass checks each against its layout.
export interface AnyOp {
  t?: unknown
  id?: unknown
  topic?: unknown
  partition?: unknown
  count?: unknown
  records?: unknown
  confirm?: unknown
  producerId?: unknown
  sequence?: unknown
  conn?: unknown
  sub?: unknown
  group?: unknown
  kind?: unknown
  ranges?: unknown
  delayMs?: unknown
  bytes?: unknown
  result?: unknown
}

/** An op of kind K with every field of its type present (an optional one may be undefined). */
export type Complete<K extends Op['t']> = { [F in keyof Required<Extract<Op, { t: K }>>]: Extract<Op, { t: K }>[F] }

export const isU32 = (v: unknown): v is number => typeof v === 'number' && v >>> 0 === v
export const isOptionalNumber = (v: unknown): boolean => v === undefined || typeof v === 'number'

/** UTF-8 byte length, or -1 past the u16 limit. */
export function stringBytes(s: string): number {
  const n = s.length
  if (n <= SHORT_STRING) {
    let i = 0
    while (i < n && s.charCodeAt(i) < 0x80) i++
    if (i === n) return n
  }
  const bytes = Buffer.byteLength(s, 'utf8')
  return bytes <= MAX_STRING_BYTES ? bytes : -1
}

export function numbersOnly(a: unknown[]): boolean {
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'number') return false
  return true
}

