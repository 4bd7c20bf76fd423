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
 *                (1 confirm, 2 producerId present, 4 sequence present,
 *                8 records attached), [f64 producerId], [f64 sequence], the
 *                records: u32 attachment, u32 byte offset, u32 length when
 *                attached, else bin
 *   SETTLE       f64 conn, f64 sub, str topic, u32 partition, str group,
 *                u8 kind (index in ACK_KINDS), f64 delayMs, u32 n, n x f64 ranges
 *   OUT          f64 conn, bin bytes
 *   OUT_ATTACHED f64 conn, u32 attachment, u32 byte offset, u32 length: the
 *                bytes are a view of the message's attachment (an ArrayBuffer
 *                transferred beside the ops' own, see thread-codec.ts)
 *   DONE_NUMBER  f64 id, f64 result
 *   DONE_NULL    f64 id
 *   DONE_UNDEF   f64 id
 *   REPL_APPEND  f64 id, str topic, u32 partition, f64 epoch, f64 hw,
 *                f64 logStart, u8 flags (1 diverging present, 2 batches attached),
 *                [f64 diverging epoch, f64 diverging endOffset], the
 *                batches: u32 attachment, u32 byte offset, u32 length when
 *                attached, else bin; bin groups
 *   DONE_FETCHED f64 id, u32 n, n x answer: a `done` whose result is a
 *                fetch's answers (worker/replication.ts FetchAnswer):
 *                str topic, u32 partition, f64 hw, f64 leaderEnd, f64 acked,
 *                u8 flags (FETCHED_*), [f64 diverging epoch, f64 diverging
 *                endOffset], [str error], [bin groups], [f64 logStart], then the batches:
 *                u32 attachment, u32 byte offset, u32 length when
 *                FETCHED_ATTACHED, else bin
 *
 * Why the replication ops have a layout: as MessagePack, a follower's
 * batches were copied into msgpackr's scratch (which grows to four times
 * the largest op, in a fresh buffer) and again into the ArrayBuffer
 * transferred, on both brokers of every fetch; here they are copied once,
 * or not at all when the leader's worker gave up their ArrayBuffer. A
 * follower's batches of ATTACH_MIN_BYTES or more are copied into an
 * ArrayBuffer of their own and attached, so its worker can keep them in its
 * read cache as they came, without a copy of its own (worker/replication.ts).
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
export const REPL_APPEND = 8
export const DONE_FETCHED = 9

/** REPL_APPEND flags. */
export const HAS_DIVERGING = 1
export const BATCHES_ATTACHED = 2

/** DONE_FETCHED flags, one byte per answer. */
export const FETCHED_CAUGHT_UP = 1
export const FETCHED_DIVERGING = 2
export const FETCHED_ERROR = 4
export const FETCHED_GROUPS = 8
export const FETCHED_ATTACHED = 16
export const FETCHED_LOG_START = 32

/** PUB flags. */
export const CONFIRM = 1
export const HAS_PRODUCER_ID = 2
export const HAS_SEQUENCE = 4
/** The records are a view of an attachment: a large PUBLISH whose frame the gateway gave up (handlers/publish.ts). */
export const RECORDS_ATTACHED = 8

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
  epoch?: unknown
  hw?: unknown
  batches?: unknown
  diverging?: unknown
  groups?: unknown
  logStart?: unknown
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

/** `{ epoch, endOffset }` and nothing else, both numbers: a leader's "your log diverges here". */
export function isDiverging(v: unknown): v is { epoch: number; endOffset: number } {
  if (v === null || typeof v !== 'object') return false
  const d = v as { epoch?: unknown; endOffset?: unknown }
  if (typeof d.epoch !== 'number' || typeof d.endOffset !== 'number') return false
  let keys = 0
  for (const _ in d) keys++
  return keys === 2
}

const FETCH_ANSWER_KEYS = new Set(['topic', 'partition', 'hw', 'leaderEnd', 'batches', 'divergingEpoch', 'error', 'groups', 'caughtUp', 'acked', 'logStart'])

/**
 * Bytes of a `done` result in the DONE_FETCHED layout (after the id), or -1
 * when it is not a non-empty list of fetch answers with only their fields,
 * each fitting the layout (then it goes as MessagePack, as any result).
 * `attachable` says which batches travel as an attachment (12 bytes here).
 */
export function fetchedSize(result: unknown, attachable: (bytes: Uint8Array) => boolean): number {
  if (!Array.isArray(result) || result.length === 0) return -1
  let size = 4
  for (const a of result as unknown[]) {
    if (a === null || typeof a !== 'object') return -1
    const { topic, partition, hw, leaderEnd, acked, caughtUp, batches, divergingEpoch, error, groups, logStart } = a as Record<string, unknown>
    if (typeof topic !== 'string' || !isU32(partition) || typeof hw !== 'number' || typeof leaderEnd !== 'number' || typeof acked !== 'number' || typeof caughtUp !== 'boolean') return -1
    if (!(batches instanceof Uint8Array) || (groups !== undefined && !(groups instanceof Uint8Array))) return -1
    if ((divergingEpoch !== undefined && !isDiverging(divergingEpoch)) || (error !== undefined && typeof error !== 'string') || (logStart !== undefined && typeof logStart !== 'number')) return -1
    for (const k in a) if (!FETCH_ANSWER_KEYS.has(k)) return -1
    const topicBytes = stringBytes(topic)
    const errorBytes = error === undefined ? 0 : stringBytes(error)
    if (topicBytes < 0 || errorBytes < 0) return -1
    size += 2 + topicBytes + 4 + 8 + 8 + 8 + 1
    if (divergingEpoch !== undefined) size += 16
    if (error !== undefined) size += 2 + errorBytes
    if (groups !== undefined) size += 4 + groups.length
    if (logStart !== undefined) size += 8
    size += attachable(batches) ? 12 : 4 + batches.length
  }
  return size
}
