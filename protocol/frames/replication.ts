/**
 * Broker to broker replication (CLUSTER.md "Data path with replication"):
 * a follower pulls each partition it holds a copy of from that partition's
 * leader, over one connection per pair of brokers, logged in as the
 * cluster's broker user.
 *
 * REPL_FETCH (0x3b), follower -> leader:
 *   corr          uint
 *   brokerId      uint     the follower
 *   incarnation   string   the follower's process (a restarted broker is a new one)
 *   maxWaitMs     uint     how long the leader may hold the fetch while it has nothing new
 *   partitions    [{ topic, partition, leaderEpoch, fetchOffset, lastFetchedEpoch?, logStart? }]
 *                 leaderEpoch: the epoch the follower believes the leader is in;
 *                 fetchOffset: the follower's end offset, everything below it
 *                 fsynced (this is its acknowledgement); lastFetchedEpoch: the
 *                 epoch of its last batch (absent when its log is empty);
 *                 logStart: the follower's first offset (absent when 0), so
 *                 the leader knows when a purge has reached it
 *
 * REPL_DATA (0x3c), leader -> follower, the answer under the same corr:
 *   corr          uint
 *   partitions    [{ topic, partition, hw, leaderEnd, batches, divergingEpoch?, error?, groups?, logStart? }]
 *                 hw: the high watermark; leaderEnd: the leader's end offset;
 *                 batches: whole stored batches from fetchOffset on, end to end
 *                 (possibly empty); divergingEpoch { epoch, endOffset }: the
 *                 follower's log diverges, it truncates to endOffset (or its own
 *                 end of that epoch, whichever is lower) and fetches again;
 *                 error: an error name (NOT_LEADER when this broker does not
 *                 lead the partition in the epoch the fetch named), batches empty;
 *                 groups: the partition's consumer-group state (MessagePack
 *                 array of [group, {next, floor, acked, deliveries}]), sent
 *                 now and then so a new leader resumes every group where the
 *                 old one left off; logStart: the leader's first offset, sent
 *                 when the fetch's logStart is below it (a purge, or retention
 *                 ahead of the follower's): the follower drops what it holds
 *                 below it before appending the batches
 *
 * A fetch from a broker that is not logged in as the broker user is
 * FORBIDDEN; a fetch to a broker not in a cluster is INVALID_REQUEST.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { SkiffError } from '../errors.js'
import { MAX_NAME_FIELD } from './limits.js'
import { MAX_BROKER_ID } from './metadata.js'
import { writeArrayHeader, writeBin, writeBinHeader, writeStr, writeUint } from './msgpack-write.js'

/**
 * Batch bytes one REPL_DATA carries at most, besides the first batch of each
 * partition while under it (a stored batch may be as large as a PUBLISH,
 * maxFrame). A follower reads REPL_DATA frames up to replDataFrameLimit.
 */
export const REPL_DATA_BYTES = 4 * 1024 * 1024
/** Bytes of consumer-group state one REPL_DATA carries at most (the rest goes with later answers). */
export const REPL_GROUP_BYTES = 1024 * 1024

/** The largest REPL_DATA a follower accepts from a leader whose frames are at most `maxFrame`. */
export function replDataFrameLimit(maxFrame: number): number {
  return Math.max(maxFrame, REPL_DATA_BYTES + REPL_GROUP_BYTES + 2 * maxFrame)
}

/** Most partitions one fetch may name. */
export const MAX_FETCH_PARTITIONS = 10_000
export const MAX_FETCH_WAIT_MS = 10_000
const MAX_EPOCH = 0xffffffff

export interface FetchPartition {
  topic: string
  partition: number
  leaderEpoch: number
  fetchOffset: number
  lastFetchedEpoch?: number | undefined
  logStart?: number | undefined
}

export interface ReplFetch {
  corr: number
  brokerId: number
  incarnation: string
  maxWaitMs: number
  partitions: FetchPartition[]
}

export interface FetchedPartition {
  topic: string
  partition: number
  hw: number
  leaderEnd: number
  batches: Uint8Array
  divergingEpoch?: { epoch: number; endOffset: number } | undefined
  error?: string | undefined
  groups?: Uint8Array | undefined
  logStart?: number | undefined
}

export interface ReplData {
  corr: number
  partitions: FetchedPartition[]
}

export function encodeReplFetch(f: ReplFetch): Buffer {
  return encodeFrame(Op.REPL_FETCH, {
    corr: f.corr,
    brokerId: f.brokerId,
    incarnation: f.incarnation,
    maxWaitMs: f.maxWaitMs,
    partitions: f.partitions.map((p) => {
      const out: Record<string, unknown> = { topic: p.topic, partition: p.partition, leaderEpoch: p.leaderEpoch, fetchOffset: p.fetchOffset }
      if (p.lastFetchedEpoch !== undefined) out.lastFetchedEpoch = p.lastFetchedEpoch
      if (p.logStart) out.logStart = p.logStart
      return out
    }),
  })
}

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)

export function decodeReplFetch(body: Buffer): ReplFetch {
  const f = new Fields('REPL_FETCH', body)
  const corr = f.uint('corr')
  const brokerId = f.uint('brokerId', MAX_BROKER_ID)
  const incarnation = f.str('incarnation', 256)
  const maxWaitMs = f.uint('maxWaitMs', MAX_FETCH_WAIT_MS)
  const raw = f.raw('partitions')
  if (!Array.isArray(raw) || raw.length > MAX_FETCH_PARTITIONS) throw new SkiffError('INVALID_REQUEST', `REPL_FETCH.partitions must be an array of at most ${MAX_FETCH_PARTITIONS}`)
  const partitions = raw.map((p, i): FetchPartition => {
    const ok =
      isObject(p) &&
      typeof p.topic === 'string' &&
      p.topic.length > 0 &&
      p.topic.length <= MAX_NAME_FIELD &&
      isUint(p.partition, 0xffffffff) &&
      isUint(p.leaderEpoch, MAX_EPOCH) &&
      isUint(p.fetchOffset) &&
      (p.lastFetchedEpoch === undefined || p.lastFetchedEpoch === null || isUint(p.lastFetchedEpoch, MAX_EPOCH)) &&
      (p.logStart === undefined || p.logStart === null || isUint(p.logStart))
    if (!ok) throw new SkiffError('INVALID_REQUEST', `REPL_FETCH.partitions[${i}] must be { topic, partition, leaderEpoch, fetchOffset, lastFetchedEpoch?, logStart? }`)
    const q = p as { topic: string; partition: number; leaderEpoch: number; fetchOffset: number; lastFetchedEpoch?: number | null; logStart?: number | null }
    const out: FetchPartition = { topic: q.topic, partition: q.partition, leaderEpoch: q.leaderEpoch, fetchOffset: q.fetchOffset, lastFetchedEpoch: q.lastFetchedEpoch ?? undefined }
    if (q.logStart) out.logStart = q.logStart
    return out
  })
  return { corr, brokerId, incarnation, maxWaitMs, partitions }
}

export function encodeReplData(d: ReplData): Buffer {
  return encodeFrame(Op.REPL_DATA, {
    corr: d.corr,
    partitions: d.partitions.map((p) => {
      const out: Record<string, unknown> = { topic: p.topic, partition: p.partition, hw: p.hw, leaderEnd: p.leaderEnd, batches: p.batches }
      if (p.divergingEpoch) out.divergingEpoch = p.divergingEpoch
      if (p.error) out.error = p.error
      if (p.groups) out.groups = p.groups
      if (p.logStart) out.logStart = p.logStart
      return out
    }),
  })
}

/**
 * The bytes of encodeReplData(d), in pieces for one vectored socket write:
 * each partition's batches of BATCHES_INLINE_MAX bytes or more are a piece
 * of their own, the caller's bytes as they are, and everything between them
 * is written by hand into one small buffer (the same MessagePack the generic
 * packer writes: test/protocol/repl-data-chunks.test.ts holds them to that).
 * Through the generic packer, every batch was copied twice on the leader's
 * event loop (into the packer's buffer, grown afresh for each large answer,
 * then into the frame), which was most of what replication cost it there.
 */
export function encodeReplDataChunks(d: ReplData): Uint8Array[] {
  let size = REPL_DATA_HEAD_MAX
  for (const p of d.partitions) {
    size += PARTITION_HEAD_MAX + Buffer.byteLength(p.topic)
    if (p.batches.length < BATCHES_INLINE_MAX) size += p.batches.length
    if (p.divergingEpoch) size += DIVERGING_MAX
    if (p.error) size += ERROR_HEAD_MAX + Buffer.byteLength(p.error)
    if (p.groups) size += GROUPS_HEAD_MAX + p.groups.length
    if (p.logStart) size += LOG_START_MAX
  }
  const head = Buffer.allocUnsafe(size)
  const chunks: Uint8Array[] = []
  let pos = 5
  head[pos++] = 0x82 // map of 2
  pos = writeKey(head, pos, 'corr')
  pos = writeUint(head, pos, d.corr)
  pos = writeKey(head, pos, 'partitions')
  pos = writeArrayHeader(head, pos, d.partitions.length)
  let from = 0
  let length = 0
  for (const p of d.partitions) {
    head[pos++] = 0x80 | (5 + (p.divergingEpoch ? 1 : 0) + (p.error ? 1 : 0) + (p.groups ? 1 : 0) + (p.logStart ? 1 : 0)) // a map of up to 9
    pos = writeKey(head, pos, 'topic')
    pos = writeStr(head, pos, p.topic)
    pos = writeKey(head, pos, 'partition')
    pos = writeUint(head, pos, p.partition)
    pos = writeKey(head, pos, 'hw')
    pos = writeUint(head, pos, p.hw)
    pos = writeKey(head, pos, 'leaderEnd')
    pos = writeUint(head, pos, p.leaderEnd)
    pos = writeKey(head, pos, 'batches')
    if (p.batches.length < BATCHES_INLINE_MAX) pos = writeBin(head, pos, p.batches)
    else {
      pos = writeBinHeader(head, pos, p.batches.length)
      chunks.push(head.subarray(from, pos), p.batches)
      length += pos - from + p.batches.length
      from = pos
    }
    if (p.divergingEpoch) {
      pos = writeKey(head, pos, 'divergingEpoch')
      head[pos++] = 0x82 // map of 2
      pos = writeKey(head, pos, 'epoch')
      pos = writeUint(head, pos, p.divergingEpoch.epoch)
      pos = writeKey(head, pos, 'endOffset')
      pos = writeUint(head, pos, p.divergingEpoch.endOffset)
    }
    if (p.error) {
      pos = writeKey(head, pos, 'error')
      pos = writeStr(head, pos, p.error)
    }
    if (p.groups) {
      pos = writeKey(head, pos, 'groups')
      pos = writeBin(head, pos, p.groups)
    }
    if (p.logStart) {
      pos = writeKey(head, pos, 'logStart')
      pos = writeUint(head, pos, p.logStart)
    }
  }
  chunks.push(head.subarray(from, pos))
  length += pos - from
  head.writeUInt32BE(length - 4, 0)
  head[4] = Op.REPL_DATA
  return chunks
}

/** Batches shorter than this are copied into the head: a piece of their own would cost more than the copy. */
const BATCHES_INLINE_MAX = 4096
/** Frame header, map of 2, "corr" and a uint, "partitions" and an array header. */
const REPL_DATA_HEAD_MAX = 5 + 1 + 5 + 9 + 11 + 5
/** A partition's map header, its keys, the topic's string header, three uints and the batches' bin header. */
const PARTITION_HEAD_MAX = 1 + 6 + 5 + 10 + 9 + 3 + 9 + 10 + 9 + 8 + 5
/** "divergingEpoch", a map of 2, "epoch" and "endOffset" with their uints. */
const DIVERGING_MAX = 15 + 1 + 6 + 9 + 10 + 9
const ERROR_HEAD_MAX = 6 + 5
const GROUPS_HEAD_MAX = 7 + 5
const LOG_START_MAX = 9 + 9

/** A key of the REPL_DATA maps (each shorter than 32 bytes, so a fixstr). */
function writeKey(out: Buffer, pos: number, key: string): number {
  out[pos++] = 0xa0 | key.length
  return pos + out.write(key, pos, 'latin1')
}

export function decodeReplData(body: Buffer): ReplData {
  const f = new Fields('REPL_DATA', body)
  const corr = f.uint('corr')
  const raw = f.raw('partitions')
  if (!Array.isArray(raw) || raw.length > MAX_FETCH_PARTITIONS) throw new SkiffError('INVALID_REQUEST', 'REPL_DATA.partitions must be an array')
  const partitions = raw.map((p, i): FetchedPartition => {
    const d = isObject(p) ? p.divergingEpoch : undefined
    const ok =
      isObject(p) &&
      typeof p.topic === 'string' &&
      p.topic.length <= MAX_NAME_FIELD &&
      isUint(p.partition, 0xffffffff) &&
      isUint(p.hw) &&
      isUint(p.leaderEnd) &&
      p.batches instanceof Uint8Array &&
      (d === undefined || d === null || (isObject(d) && isUint(d.epoch, MAX_EPOCH) && isUint(d.endOffset))) &&
      (p.error === undefined || p.error === null || (typeof p.error === 'string' && p.error.length <= 64)) &&
      (p.groups === undefined || p.groups === null || p.groups instanceof Uint8Array) &&
      (p.logStart === undefined || p.logStart === null || isUint(p.logStart))
    if (!ok) throw new SkiffError('INVALID_REQUEST', `REPL_DATA.partitions[${i}] is not { topic, partition, hw, leaderEnd, batches, divergingEpoch?, error?, groups?, logStart? }`)
    const q = p as Record<string, unknown>
    const diverging = isObject(d) ? { epoch: d.epoch as number, endOffset: d.endOffset as number } : undefined
    const out: FetchedPartition = { topic: q.topic as string, partition: q.partition as number, hw: q.hw as number, leaderEnd: q.leaderEnd as number, batches: q.batches as Uint8Array, divergingEpoch: diverging, error: (q.error as string | null) ?? undefined, groups: (q.groups as Uint8Array | null) ?? undefined }
    if (q.logStart) out.logStart = q.logStart as number
    return out
  })
  return { corr, partitions }
}
