/**
 * The bytes of one turn's ops between the gateway and a partition worker (see
 * thread-messages.ts for the ops themselves). The ops that come with nearly
 * every message have a fixed binary layout; everything else is MessagePack.
 *
 * Hot ops:
 *   gateway -> worker  `pub` (a PUBLISH batch for one partition) and `settle`
 *                      (an ACK's ranges for one partition)
 *   worker -> gateway  `out` (DELIVER frames for one connection) and `done`
 *                      with a number (a publish confirm's base offset) or
 *                      null/undefined (every other reply without a result)
 *
 * Why not MessagePack for them: msgpackr writes each op as a map (a key string
 * per field) into its own buffer, copying a `pub`'s records or an `out`'s
 * frames there, and the packed turn was then copied again into the
 * ArrayBuffer to transfer. Here the first pass sizes the turn exactly, the
 * second writes every field straight into the ArrayBuffer that is
 * transferred, so the big byte fields are copied once; the reader hands them
 * out as Buffer views of the received ArrayBuffer (no copy) and builds each
 * op as one object literal of a fixed shape.
 *
 * Layout: entries back to back, each a u8 tag and its fields; u32 and u16
 * little-endian, f64 in the host's order (both ends are threads of one process).
 *   f64  any number that can pass 2^32 (ids grow forever; offsets, producer
 *        ids up to 2^48, connection and subscription ids, delays), and any
 *        number a peer chose: a float64 holds every JS number exactly
 *   u32  partition and record count (checked to fit, see below)
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
 *   DONE_NUMBER  f64 id, f64 result
 *   DONE_NULL    f64 id
 *   DONE_UNDEF   f64 id
 *
 * An op of a hot kind whose fields do not fit its layout (a partition that is
 * not a u32, a string past 64 KiB, an unknown ack kind, ...) goes as GENERIC:
 * whatever is sent comes back as msgpackr gave it before, never truncated.
 */
import { Packr, Unpackr } from 'msgpackr'
import { ACK_KINDS, type AckKind } from '../protocol/frames/ack.js'

// Between our own threads no other MessagePack reader is involved, so the
// plain msgpackr encoding (large integers as float64) is fine and cheapest.
const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

const GENERIC = 0
const PUB = 1
const SETTLE = 2
const OUT = 3
const DONE_NUMBER = 4
const DONE_NULL = 5
const DONE_UNDEF = 6

const CONFIRM = 1
const HAS_PRODUCER_ID = 2
const HAS_SEQUENCE = 4

const MAX_STRING_BYTES = 0xffff
/** Strings up to this many UTF-16 units are measured and written in JS (topic and group names); longer ones by Buffer. */
const SHORT_STRING = 64

// The hot ops as the encoder reads them: any field may hold anything, and
// the size pass checks each against its layout.
interface AnyOp {
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

const isU32 = (v: unknown): v is number => typeof v === 'number' && v >>> 0 === v
const isOptionalNumber = (v: unknown): boolean => v === undefined || typeof v === 'number'

/** UTF-8 byte length, or -1 past the u16 limit. */
function stringBytes(s: string): number {
  const n = s.length
  if (n <= SHORT_STRING) {
    let i = 0
    while (i < n && s.charCodeAt(i) < 0x80) i++
    if (i === n) return n
  }
  const bytes = Buffer.byteLength(s, 'utf8')
  return bytes <= MAX_STRING_BYTES ? bytes : -1
}

function numbersOnly(a: unknown[]): boolean {
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'number') return false
  return true
}

// Scratch of one packOps call, reused from call to call: each op's tag from
// the size pass, and the msgpackr bytes of the GENERIC ones in order.
let tags = new Uint8Array(64)
const generic: Uint8Array[] = []
let genericCount = 0

/** Bytes of `op` as a hot entry (its tag goes in tags[i]), or -1 when it is not one. */
function hotSize(op: AnyOp, i: number): number {
  switch (op.t) {
    case 'pub': {
      const { topic, records } = op
      if (typeof op.id !== 'number' || typeof topic !== 'string' || !isU32(op.partition) || !isU32(op.count)) return -1
      if (!(records instanceof Uint8Array) || typeof op.confirm !== 'boolean') return -1
      if (!isOptionalNumber(op.producerId) || !isOptionalNumber(op.sequence)) return -1
      const topicBytes = stringBytes(topic)
      if (topicBytes < 0) return -1
      tags[i] = PUB
      return 1 + 8 + 2 + topicBytes + 4 + 4 + 1 + (op.producerId === undefined ? 0 : 8) + (op.sequence === undefined ? 0 : 8) + 4 + records.length
    }
    case 'settle': {
      const { topic, group, ranges } = op
      if (typeof op.conn !== 'number' || typeof op.sub !== 'number' || typeof topic !== 'string' || !isU32(op.partition)) return -1
      if (typeof group !== 'string' || typeof op.delayMs !== 'number' || ACK_KINDS.indexOf(op.kind as AckKind) < 0) return -1
      if (!Array.isArray(ranges) || !numbersOnly(ranges)) return -1
      const topicBytes = stringBytes(topic)
      const groupBytes = stringBytes(group)
      if (topicBytes < 0 || groupBytes < 0) return -1
      tags[i] = SETTLE
      return 1 + 8 + 8 + 2 + topicBytes + 4 + 2 + groupBytes + 1 + 8 + 4 + 8 * ranges.length
    }
    case 'out': {
      const { bytes } = op
      if (typeof op.conn !== 'number' || !(bytes instanceof Uint8Array)) return -1
      tags[i] = OUT
      return 1 + 8 + 4 + bytes.length
    }
    case 'done': {
      if (typeof op.id !== 'number') return -1
      const { result } = op
      if (typeof result === 'number') {
        tags[i] = DONE_NUMBER
        return 1 + 8 + 8
      }
      if (result === null || result === undefined) {
        tags[i] = result === null ? DONE_NULL : DONE_UNDEF
        return 1 + 8
      }
      return -1
    }
  }
  return -1
}

const EMPTY_AB = new ArrayBuffer(0)
const EMPTY = Buffer.from(EMPTY_AB)

// A float64 goes through this scratch, byte by byte: no DataView to create
// per message (both ends are threads of one process: same byte order).
const f64 = new Float64Array(1)
const f64Bytes = new Uint8Array(f64.buffer)

// The ArrayBuffer being written, and where (the module's own state rather
// than a writer object per call; dropped after the call).
let buf: Buffer = EMPTY
let pos = 0

function writeF64(v: number): void {
  f64[0] = v
  const b = buf
  const p = pos
  b[p] = f64Bytes[0]!
  b[p + 1] = f64Bytes[1]!
  b[p + 2] = f64Bytes[2]!
  b[p + 3] = f64Bytes[3]!
  b[p + 4] = f64Bytes[4]!
  b[p + 5] = f64Bytes[5]!
  b[p + 6] = f64Bytes[6]!
  b[p + 7] = f64Bytes[7]!
  pos = p + 8
}

function writeU32(v: number): void {
  const b = buf
  const p = pos
  b[p] = v
  b[p + 1] = v >>> 8
  b[p + 2] = v >>> 16
  b[p + 3] = v >>> 24
  pos = p + 4
}

function writeString(s: string): void {
  const start = pos + 2
  const n = s.length
  let end = start
  let i = 0
  if (n <= SHORT_STRING) {
    for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) break
      buf[end++] = c
    }
  }
  if (i < n) end = start + buf.write(s, start, 'utf8')
  buf[pos] = end - start
  buf[pos + 1] = (end - start) >>> 8
  pos = end
}

function writeBytes(b: Uint8Array): void {
  writeU32(b.length)
  buf.set(b, pos)
  pos += b.length
}

function writeEntry(op: AnyOp, tag: number): void {
  buf[pos++] = tag
  switch (tag) {
    case PUB: {
      const producerId = op.producerId as number | undefined
      const sequence = op.sequence as number | undefined
      writeF64(op.id as number)
      writeString(op.topic as string)
      writeU32(op.partition as number)
      writeU32(op.count as number)
      buf[pos++] = (op.confirm ? CONFIRM : 0) | (producerId === undefined ? 0 : HAS_PRODUCER_ID) | (sequence === undefined ? 0 : HAS_SEQUENCE)
      if (producerId !== undefined) writeF64(producerId)
      if (sequence !== undefined) writeF64(sequence)
      writeBytes(op.records as Uint8Array)
      return
    }
    case SETTLE: {
      const ranges = op.ranges as number[]
      writeF64(op.conn as number)
      writeF64(op.sub as number)
      writeString(op.topic as string)
      writeU32(op.partition as number)
      writeString(op.group as string)
      buf[pos++] = ACK_KINDS.indexOf(op.kind as AckKind)
      writeF64(op.delayMs as number)
      writeU32(ranges.length)
      for (let i = 0; i < ranges.length; i++) writeF64(ranges[i]!)
      return
    }
    case OUT:
      writeF64(op.conn as number)
      writeBytes(op.bytes as Uint8Array)
      return
    case DONE_NUMBER:
      writeF64(op.id as number)
      writeF64(op.result as number)
      return
    case DONE_NULL:
    case DONE_UNDEF:
      writeF64(op.id as number)
      return
  }
}

/** Encode a turn's ops into one fresh ArrayBuffer of exactly their size. */
export function writeOps(ops: readonly unknown[]): ArrayBuffer {
  const n = ops.length
  if (tags.length < n) tags = new Uint8Array(Math.max(n, tags.length * 2))
  genericCount = 0
  let size = 0
  for (let i = 0; i < n; i++) {
    const op = ops[i] as AnyOp
    const hot = op !== null && typeof op === 'object' ? hotSize(op, i) : -1
    if (hot >= 0) {
      size += hot
      continue
    }
    // msgpackr's result is a view of its own scratch buffer that stays intact
    // until that buffer is full, when it starts a new one: it lasts this call.
    const packed = packr.pack(op)
    generic[genericCount++] = packed
    tags[i] = GENERIC
    size += 1 + 4 + packed.length
  }
  // Every byte is written below (checked at the end), so the memory need not
  // be zeroed first: allocUnsafeSlow gives a Buffer of its own ArrayBuffer of
  // exactly `size` bytes (never the shared pool), which can be transferred.
  buf = Buffer.allocUnsafeSlow(size)
  const ab = buf.buffer as ArrayBuffer
  pos = 0
  let g = 0
  for (let i = 0; i < n; i++) {
    const tag = tags[i]!
    if (tag !== GENERIC) {
      writeEntry(ops[i] as AnyOp, tag)
      continue
    }
    buf[pos++] = GENERIC
    writeBytes(generic[g]!)
    generic[g++] = EMPTY
  }
  buf = EMPTY
  if (pos !== size) throw new Error(`thread ops: wrote ${pos} bytes, sized ${size}`)
  return ab
}

// The ArrayBuffer being read, and where.
let ab = EMPTY_AB
let src = EMPTY
let at = 0

function readF64(): number {
  const b = src
  const p = at
  f64Bytes[0] = b[p]!
  f64Bytes[1] = b[p + 1]!
  f64Bytes[2] = b[p + 2]!
  f64Bytes[3] = b[p + 3]!
  f64Bytes[4] = b[p + 4]!
  f64Bytes[5] = b[p + 5]!
  f64Bytes[6] = b[p + 6]!
  f64Bytes[7] = b[p + 7]!
  at = p + 8
  return f64[0]!
}

function readU32(): number {
  const b = src
  const p = at
  at = p + 4
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
}

// Short strings read before, by a hash of their bytes: topic and group names
// repeat in nearly every op, and a hit costs a byte compare instead of a
// UTF-8 decode and a new string. Slots hold copies of the bytes, not views,
// so the cache never keeps a received ArrayBuffer alive.
const CACHED_STRING_BYTES = 32
const CACHE_SLOTS = 64
const cachedBytes: Uint8Array[] = new Array<Uint8Array>(CACHE_SLOTS).fill(EMPTY)
const cachedStrings: string[] = new Array<string>(CACHE_SLOTS).fill('')

function readString(): string {
  const b = src
  const start = at + 2
  const n = b[at]! | (b[at + 1]! << 8)
  const end = start + n
  at = end
  if (n === 0) return ''
  if (n > CACHED_STRING_BYTES) return b.toString('utf8', start, end)
  let h = n
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + b[i]!) | 0
  const slot = (h ^ (h >>> 16)) & (CACHE_SLOTS - 1)
  const seen = cachedBytes[slot]!
  if (seen.length === n) {
    let i = 0
    while (i < n && seen[i] === b[start + i]) i++
    if (i === n) return cachedStrings[slot]!
  }
  const s = b.toString('utf8', start, end)
  cachedBytes[slot] = Uint8Array.prototype.slice.call(b, start, end)
  cachedStrings[slot] = s
  return s
}

/** A view of the next byte field: the caller keeps it, so the ArrayBuffer stays alive with it. */
function readBytes(): Buffer {
  const n = readU32()
  const b = Buffer.from(ab, at, n)
  at += n
  return b
}

/** Decode what writeOps encoded. */
export function readOps(buffer: ArrayBuffer): unknown[] {
  ab = buffer
  src = Buffer.from(buffer)
  at = 0
  const end = buffer.byteLength
  const ops: unknown[] = []
  while (at < end) {
    const tag = src[at++]
    switch (tag) {
      case PUB: {
        const id = readF64()
        const topic = readString()
        const partition = readU32()
        const count = readU32()
        const flags = src[at++]!
        const producerId = flags & HAS_PRODUCER_ID ? readF64() : undefined
        const sequence = flags & HAS_SEQUENCE ? readF64() : undefined
        const records = readBytes()
        ops.push({ t: 'pub', id, topic, partition, count, records, confirm: (flags & CONFIRM) !== 0, producerId, sequence })
        break
      }
      case SETTLE: {
        const conn = readF64()
        const sub = readF64()
        const topic = readString()
        const partition = readU32()
        const group = readString()
        const kind = ACK_KINDS[src[at++]!]
        const delayMs = readF64()
        const ranges: number[] = new Array(readU32())
        for (let i = 0; i < ranges.length; i++) ranges[i] = readF64()
        ops.push({ t: 'settle', conn, sub, topic, partition, group, kind, ranges, delayMs })
        break
      }
      case OUT: {
        const conn = readF64()
        ops.push({ t: 'out', conn, bytes: readBytes() })
        break
      }
      case DONE_NUMBER: {
        const id = readF64()
        ops.push({ t: 'done', id, result: readF64() })
        break
      }
      case DONE_NULL:
        ops.push({ t: 'done', id: readF64(), result: null })
        break
      case DONE_UNDEF:
        ops.push({ t: 'done', id: readF64(), result: undefined })
        break
      case GENERIC: {
        const n = readU32()
        ops.push(unpackr.unpack(src.subarray(at, at + n)))
        at += n
        break
      }
      default:
        throw new Error(`thread ops: unknown entry tag ${tag} at byte ${at - 1}`)
    }
  }
  ab = EMPTY_AB
  src = EMPTY
  return ops
}
