/**
 * PUBLISH (0x10), client -> broker: a batch of records for one topic.
 *   corr        uint    correlation id (echoed by PUBLISH_ACK or ERROR)
 *   topic       string
 *   count       uint    records in `records` (>= 1)
 *   records     bin     records in the record encoding (protocol/records.ts)
 *   confirm     bool    default true; false = fire-and-forget: no PUBLISH_ACK, errors still reported
 *   producerId  uint?   idempotent producer: a random non-zero id below 2^48 the client picks
 *   sequence    uint?   idempotent producer: this batch's number, 0, 1, 2, ... per producer
 *                       (< 2^32 - 1). A batch re-sent with the same producerId and sequence
 *                       within the dedup window (>= 2 minutes, across broker restarts) is
 *                       confirmed with its original offsets and not stored again.
 *   partition   uint?   every record of the batch goes to this partition, whatever its key
 *                       (a client that routes by itself; in a cluster it must be led by
 *                       the broker sent to, else NOT_LEADER).
 * Without `partition` the broker picks each record's partition: the key's FNV-1a hash
 * modulo the partition count; records without a key all go to one partition, round-robin
 * per batch, or (producerId + sequence) modulo the count for an idempotent batch (in a
 * cluster: one of the partitions the receiving broker leads).
 *
 * This is the hottest frame on both sides, so the frames every client sends
 * (an ASCII topic, non-negative safe integers, fields in the order above) are
 * written and read by hand (read with the cursor readers of msgpack-read.ts,
 * which DELIVER's reader shares): one pass, the records copied at most once
 * (not at all with publishFrameAround), the bytes exactly those the general
 * MessagePack path (encodeFrame, Fields) gives. Anything else, including
 * every malformed body, goes through the general path, so values and errors
 * are the same either way.
 */
import { Op } from '../opcodes.js'
import { FRAME_HEADER_BYTES, encodeFrame } from '../frame.js'
import { Fields, noteCorr } from '../fields.js'
import { MAX_TOPIC_NAME } from '../names.js'
import { MAX_PUBLISH_RECORDS } from './limits.js'
import { SkiffError } from '../errors.js'
import { Cursor, readBin, readKeyOf, readMapHeader, readStr, readUint } from '../msgpack-read.js'
import { binHeaderBytes, strHeaderBytes, uintBytes, writeBinHeader, writeStrHeader, writeUint } from './msgpack-write.js'

export interface Publish {
  corr: number
  topic: string
  count: number
  records: Buffer
  confirm: boolean
  producerId?: number | undefined
  sequence?: number | undefined
  /** All records to this partition, whatever their keys. */
  partition?: number | undefined
}

/** Every PUBLISH field but the records. */
export type PublishFields = Omit<Publish, 'records'>

const MAX_PRODUCER_ID = 2 ** 48 - 1
const MAX_SEQUENCE = 0xfffffffe
/** Partitions are numbered below MAX_PARTITIONS (frames/admin.ts). */
const MAX_PARTITION = 1023

/** Map keys as MessagePack fixstr bytes. */
const KEY_CORR = key('corr')
const KEY_TOPIC = key('topic')
const KEY_COUNT = key('count')
const KEY_RECORDS = key('records')
const KEY_CONFIRM = key('confirm')
const KEY_PRODUCER_ID = key('producerId')
const KEY_SEQUENCE = key('sequence')
const KEY_PARTITION = key('partition')

function key(name: string): Buffer {
  return Buffer.concat([Buffer.of(0xa0 | name.length), Buffer.from(name, 'latin1')])
}

export function encodePublish(p: Publish): Buffer {
  if (!Buffer.isBuffer(p.records) || !isPlain(p)) return encodeGeneral(p)
  const n = p.records.length
  const head = headBytes(p, n)
  const out = Buffer.allocUnsafe(head + n + tailBytes(p))
  writeHead(out, 0, p, n, out.length)
  out.set(p.records, head)
  writeTail(out, head + n, p)
  return out
}

/** Most bytes the frame header and the fields before the records take for this topic (any corr, count, records length). */
export function publishHeadRoom(topic: string): number {
  return FRAME_HEADER_BYTES + 1 + KEY_CORR.length + 9 + KEY_TOPIC.length + strHeaderBytes(topic.length) + topic.length + KEY_COUNT.length + 9 + KEY_RECORDS.length + 5
}

/** Most bytes the fields after the records take. */
export const PUBLISH_TAIL_ROOM = KEY_CONFIRM.length + 1 + KEY_PRODUCER_ID.length + 9 + KEY_SEQUENCE.length + 9

/**
 * A PUBLISH frame around records already in `buf` at [recordsStart,
 * recordsEnd), without copying them: the frame header and the fields before
 * the records are written just before them, the fields after just after, and
 * the frame is a view of `buf`. The caller leaves publishHeadRoom(topic) bytes
 * before the records and PUBLISH_TAIL_ROOM after them. Undefined when the
 * fields are not the plain kind (see the header comment): encodePublish
 * encodes those.
 */
export function publishFrameAround(buf: Buffer, recordsStart: number, recordsEnd: number, p: PublishFields): Buffer | undefined {
  if (!isPlain(p)) return undefined
  const n = recordsEnd - recordsStart
  const start = recordsStart - headBytes(p, n)
  const end = recordsEnd + tailBytes(p)
  if (start < 0 || end > buf.length) throw new SkiffError('INTERNAL', `no room around the records for the PUBLISH fields (${start}..${end} of ${buf.length} bytes)`)
  writeHead(buf, start, p, n, end - start)
  writeTail(buf, recordsEnd, p)
  return buf.subarray(start, end)
}

export function decodePublish(body: Buffer): Publish {
  const plain = readPlain(body)
  if (!plain) return decodeGeneral(body)
  noteCorr(plain.corr) // as Fields does on the general path (fields.ts, noteCorr)
  return plain
}

function encodeGeneral(p: Publish): Buffer {
  const body: Record<string, unknown> = { corr: p.corr, topic: p.topic, count: p.count, records: p.records }
  if (!p.confirm) body.confirm = false
  if (p.producerId !== undefined) body.producerId = p.producerId
  if (p.sequence !== undefined) body.sequence = p.sequence
  if (p.partition !== undefined) body.partition = p.partition
  return encodeFrame(Op.PUBLISH, body)
}

function decodeGeneral(body: Buffer): Publish {
  const f = new Fields('PUBLISH', body)
  return {
    corr: f.uint('corr'),
    topic: f.str('topic', MAX_TOPIC_NAME),
    count: f.uint('count', MAX_PUBLISH_RECORDS),
    records: f.bin('records'),
    confirm: f.bool('confirm', true),
    producerId: f.optUint('producerId', MAX_PRODUCER_ID),
    sequence: f.optUint('sequence', MAX_SEQUENCE),
    ...(f.has('partition') ? { partition: f.uint('partition', MAX_PARTITION) } : {}),
  }
}

// ---- the hand-written encoding ----------------------------------------------

/** What the general path encodes as these bytes: an ASCII topic, non-negative safe integers, a boolean confirm. */
function isPlain(p: PublishFields): boolean {
  return (
    isUint(p.corr) &&
    isUint(p.count) &&
    typeof p.confirm === 'boolean' &&
    (p.producerId === undefined || isUint(p.producerId)) &&
    (p.sequence === undefined || isUint(p.sequence)) &&
    (p.partition === undefined || isUint(p.partition)) &&
    typeof p.topic === 'string' &&
    isAscii(p.topic)
  )
}

function isUint(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** How msgpackr writes a non-negative safe integer (past 32 bits as int64, see wireIntegers in codec.ts). */
function fieldCount(p: PublishFields): number {
  return 4 + (p.confirm ? 0 : 1) + (p.producerId === undefined ? 0 : 1) + (p.sequence === undefined ? 0 : 1) + (p.partition === undefined ? 0 : 1)
}

function headBytes(p: PublishFields, recordsLength: number): number {
  const t = p.topic.length
  return (
    FRAME_HEADER_BYTES + 1 + KEY_CORR.length + uintBytes(p.corr) + KEY_TOPIC.length + strHeaderBytes(t) + t + KEY_COUNT.length + uintBytes(p.count) + KEY_RECORDS.length + binHeaderBytes(recordsLength)
  )
}

function tailBytes(p: PublishFields): number {
  let n = p.confirm ? 0 : KEY_CONFIRM.length + 1
  if (p.producerId !== undefined) n += KEY_PRODUCER_ID.length + uintBytes(p.producerId)
  if (p.sequence !== undefined) n += KEY_SEQUENCE.length + uintBytes(p.sequence)
  if (p.partition !== undefined) n += KEY_PARTITION.length + uintBytes(p.partition)
  return n
}

/** Frame header, map header, corr, topic, count and the records' bin header, from `pos`; `frameBytes` is the whole frame's size. */
function writeHead(out: Buffer, pos: number, p: PublishFields, recordsLength: number, frameBytes: number): number {
  out.writeUInt32BE(frameBytes - 4, pos)
  out[pos + 4] = Op.PUBLISH
  out[pos + 5] = 0x80 | fieldCount(p)
  pos += 6
  pos += KEY_CORR.copy(out, pos)
  pos = writeUint(out, pos, p.corr)
  pos += KEY_TOPIC.copy(out, pos)
  const t = p.topic.length
  pos = writeStrHeader(out, pos, t)
  pos += out.write(p.topic, pos, t, 'latin1')
  pos += KEY_COUNT.copy(out, pos)
  pos = writeUint(out, pos, p.count)
  pos += KEY_RECORDS.copy(out, pos)
  return writeBinHeader(out, pos, recordsLength)
}

/** confirm (only when false), producerId, sequence and partition (when set), from `pos`. */
function writeTail(out: Buffer, pos: number, p: PublishFields): number {
  if (!p.confirm) {
    pos += KEY_CONFIRM.copy(out, pos)
    out[pos++] = 0xc2
  }
  if (p.producerId !== undefined) {
    pos += KEY_PRODUCER_ID.copy(out, pos)
    pos = writeUint(out, pos, p.producerId)
  }
  if (p.sequence !== undefined) {
    pos += KEY_SEQUENCE.copy(out, pos)
    pos = writeUint(out, pos, p.sequence)
  }
  if (p.partition !== undefined) {
    pos += KEY_PARTITION.copy(out, pos)
    pos = writeUint(out, pos, p.partition)
  }
  return pos
}

// ---- the hand-written decoding ----------------------------------------------

const KEYS = [KEY_CORR, KEY_TOPIC, KEY_COUNT, KEY_RECORDS, KEY_CONFIRM, KEY_PRODUCER_ID, KEY_SEQUENCE, KEY_PARTITION]
const CORR = 0
const TOPIC = 1
const COUNT = 2
const RECORDS = 3
const CONFIRM = 4
const PRODUCER_ID = 5
const SEQUENCE = 6
const PARTITION = 7
const REQUIRED = (1 << CORR) | (1 << TOPIC) | (1 << COUNT) | (1 << RECORDS)

/**
 * A plain PUBLISH body (see the header comment) read in one pass, or
 * undefined for anything else: unknown, repeated or missing fields, other
 * value forms, non-ASCII topics, values out of range, bytes past the map.
 * The general path then decides (and words the error).
 */
function readPlain(b: Buffer): Publish | undefined {
  const c = new Cursor(b)
  let n = readMapHeader(c)
  if (n < 0) return undefined
  let seen = 0
  let corr = 0
  let topic = ''
  let count = 0
  let records: Buffer | undefined
  let confirm = true
  let producerId: number | undefined
  let sequence: number | undefined
  let partition: number | undefined
  for (; n > 0; n--) {
    const field = readKeyOf(c, KEYS)
    if (field < 0 || (seen & (1 << field)) !== 0) return undefined
    seen |= 1 << field
    if (field === TOPIC) {
      const s = readStr(c)
      if (s < 0 || c.pos - s > MAX_TOPIC_NAME) return undefined
      for (let i = s; i < c.pos; i++) if (b[i]! > 0x7f) return undefined
      topic = b.toString('latin1', s, c.pos)
    } else if (field === RECORDS) {
      const s = readBin(c)
      if (s < 0) return undefined
      records = b.subarray(s, c.pos)
    } else if (field === CONFIRM) {
      const tag = b[c.pos]
      if (tag === 0xc2) confirm = false
      else if (tag !== 0xc3 && tag !== 0xc0) return undefined // nil: the default
      c.pos++
    } else if (b[c.pos] === 0xc0 && (field === PRODUCER_ID || field === SEQUENCE)) {
      c.pos++ // nil: the optional field is absent
    } else {
      const v = readUint(c)
      if (v < 0) return undefined
      if (field === CORR) corr = v
      else if (field === COUNT) {
        if (v > MAX_PUBLISH_RECORDS) return undefined
        count = v
      } else if (field === PRODUCER_ID) {
        if (v > MAX_PRODUCER_ID) return undefined
        producerId = v
      } else if (field === PARTITION) {
        if (v > MAX_PARTITION) return undefined
        partition = v
      } else {
        if (v > MAX_SEQUENCE) return undefined
        sequence = v
      }
    }
  }
  if (c.pos !== b.length || (seen & REQUIRED) !== REQUIRED) return undefined
  return partition === undefined ? { corr, topic, count, records: records!, confirm, producerId, sequence } : { corr, topic, count, records: records!, confirm, producerId, sequence, partition }
}
