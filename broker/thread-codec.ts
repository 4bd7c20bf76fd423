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
 *   cluster mode       `replAppend` (a follower's batches from its leader,
 *                      gateway -> worker) and `done` with a fetch's answers
 *                      (a leader's batches for a follower, worker -> gateway)
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
 * The layout of each hot op is in thread-layout.ts.
 *
 * Attachments: an `out` op's bytes, a fetch answer's batches, or a `pub`
 * op's records, of at least ATTACH_MIN_BYTES whose ArrayBuffer its maker
 * gave up (transferOnPost: DELIVER frames the worker encoded, batches it
 * read from several places of a log, each in a buffer of its own, a PUBLISH
 * frame the gateway assembled from several socket reads) are not copied at all: that
 * ArrayBuffer travels beside the ops' own in the same postMessage, and the
 * op names it. Copying a turn's deliveries into the ops' buffer was the
 * worker's largest copy of 64 KiB records (bench/README.md, S6).
 *
 * An op of a hot kind whose fields do not fit its layout (a partition that is
 * not a u32, a string past 64 KiB, an unknown ack kind, ...) goes as GENERIC:
 * whatever is sent comes back as msgpackr gave it before, never truncated.
 *
 * Every op is checked against its declaration (OP_FIELDS in
 * thread-messages.ts) before it is packed: an unknown op, or a field not
 * declared for its op, throws instead of being dropped by a layout that
 * does not know it. The reader builds each hot op as a literal of the op's
 * complete type, so a field added to a hot op's type and not read back does
 * not compile.
 *
 * A ThreadCodec holds its scratch (tags, the MessagePack bytes of a turn, the
 * buffer being written or read, the name cache): each thread owns one (the
 * pool its own, a worker its own).
 */
import { Packr, Unpackr } from 'msgpackr'
import { ACK_KINDS, type AckKind } from '../protocol/frames/ack.js'
import { OP_FIELDS, type FieldKind, type Op } from './thread-messages.js'
import {
  BATCHES_ATTACHED,
  CONFIRM,
  DONE_FETCHED,
  DONE_NULL,
  DONE_NUMBER,
  DONE_UNDEF,
  FETCHED_ATTACHED,
  FETCHED_CAUGHT_UP,
  FETCHED_DIVERGING,
  FETCHED_ERROR,
  FETCHED_GROUPS,
  FETCHED_LOG_START,
  GENERIC,
  HAS_DIVERGING,
  HAS_PRODUCER_ID,
  HAS_SEQUENCE,
  OUT,
  OUT_ATTACHED,
  PUB,
  RECORDS_ATTACHED,
  REPL_APPEND,
  SETTLE,
  fetchedSize,
  isDiverging,
  isOptionalNumber,
  isU32,
  numbersOnly,
  stringBytes,
  SHORT_STRING,
  type AnyOp,
  type Complete,
} from './thread-layout.js'
import type { FetchAnswer } from './worker/replication.js'

// Short strings read before, by a hash of their bytes (see readString).
const CACHED_STRING_BYTES = 32
const CACHE_SLOTS = 64

/**
 * Each op's declared field names, as null-prototype objects: a lookup by any
 * key (`__proto__`, `toString`) answers only for declared fields. Built per
 * codec, not at load: thread-messages.ts and this module import each other.
 */
function declaredFields(): Record<string, Record<string, FieldKind>> {
  const declared: Record<string, Record<string, FieldKind>> = Object.create(null)
  for (const [t, fields] of Object.entries(OP_FIELDS)) declared[t] = Object.assign(Object.create(null), fields)
  return declared
}

const EMPTY_AB = new ArrayBuffer(0)
const EMPTY = Buffer.from(EMPTY_AB)
const NO_ATTACHMENTS: readonly ArrayBuffer[] = []

/** `out` bytes from this size on travel as an attachment when their ArrayBuffer may be transferred. */
export const ATTACH_MIN_BYTES = 32 * 1024

/** ArrayBuffers their owners gave up to the next pack() (see transferOnPost). */
const transferable = new WeakSet<ArrayBufferLike>()

/** What one postMessage between the pool and a worker carries (ThreadCodec.packMessage). */
export type ThreadMessage = ArrayBuffer | ArrayBuffer[]

/**
 * `bytes` own their ArrayBuffer (nothing else views it: allocated with
 * Buffer.allocUnsafeSlow, never the shared pool) and the caller will not
 * touch them again once they are packed: pack() may transfer that
 * ArrayBuffer instead of copying it (it is detached here afterwards). Only
 * bytes of at least ATTACH_MIN_BYTES are transferred (hotSize); smaller
 * ones are copied whatever this says.
 */
export function transferOnPost(bytes: Uint8Array): void {
  transferable.add(bytes.buffer)
}

/**
 * `bytes` are all of their ArrayBuffer but for at most `lead` bytes before
 * them (a frame's body after its opcode): nothing else anyone holds can be in
 * it, so it may be given up (transferOnPost).
 */
export function ownsItsBuffer(bytes: Uint8Array, lead = 0): boolean {
  return bytes.byteOffset <= lead && bytes.byteOffset + bytes.byteLength === bytes.buffer.byteLength
}

/** A copy of `bytes` in an ArrayBuffer of its own, which nothing else holds: the pack that made it may attach it. */
function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length)
  copy.set(bytes)
  return copy
}

/** Bytes that travel as an attachment rather than a copy (see transferOnPost). */
function isAttachable(bytes: Uint8Array): boolean {
  return bytes.length >= ATTACH_MIN_BYTES && transferable.has(bytes.buffer)
}

export class ThreadCodec {
  // Between our own threads no other MessagePack reader is involved, so the
  // plain msgpackr encoding (large integers as float64) is fine and cheapest.
  private readonly packr = new Packr({ useRecords: false, mapsAsObjects: true })
  private readonly unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })
  private readonly declared = declaredFields()

  // Scratch of one pack call, reused from call to call: each op's tag from
  // the size pass, and the msgpackr bytes of the GENERIC ones in order.
  private tags = new Uint8Array(64)
  /** The keys (`t` included) of the op hotSize last accepted. */
  private hotKeys = 0
  private readonly generic: Uint8Array[] = []

  // A float64 goes through this scratch, byte by byte: no DataView to create
  // per message (both ends are threads of one process: same byte order).
  private readonly f64 = new Float64Array(1)
  private readonly f64Bytes = new Uint8Array(this.f64.buffer)

  // The ArrayBuffer being written, and where (dropped after the call).
  private buf: Buffer = EMPTY
  private pos = 0
  /** The last pack()'s attachments, to transfer with its ArrayBuffer in this order (see the header). */
  attachments: ArrayBuffer[] = []

  // The attachments of the message being read.
  private received: readonly ArrayBuffer[] = NO_ATTACHMENTS

  // The ArrayBuffer being read, and where.
  private ab = EMPTY_AB
  private src = EMPTY
  private at = 0

  // Short strings read before, by a hash of their bytes: topic and group names
  // repeat in nearly every op, and a hit costs a byte compare instead of a
  // UTF-8 decode and a new string. Slots hold copies of the bytes, not views,
  // so the cache never keeps a received ArrayBuffer alive.
  private readonly cachedBytes: Uint8Array[] = new Array<Uint8Array>(CACHE_SLOTS).fill(EMPTY)
  private readonly cachedStrings: string[] = new Array<string>(CACHE_SLOTS).fill('')

  /**
   * Encode a turn's ops into one fresh ArrayBuffer of exactly their size.
   * Throws on an op that is not declared, or that has a field not declared for it.
   */
  pack(ops: readonly Op[]): ArrayBuffer {
    this.attachments = []
    const n = ops.length
    if (this.tags.length < n) this.tags = new Uint8Array(Math.max(n, this.tags.length * 2))
    const tags = this.tags
    const generic = this.generic
    let genericCount = 0
    let size = 0
    for (let i = 0; i < n; i++) {
      const op = ops[i] as AnyOp
      const hot = op !== null && typeof op === 'object' ? this.hotSize(op, i) : -1
      if (hot >= 0) {
        // hotSize found every field the op's layout has, and counted them: as
        // many keys in all means no other field (counting is several times
        // cheaper than looking each key up, and counted here, not in a
        // function, it costs next to nothing); otherwise look for the odd one.
        let keys = 0
        for (const _ in op) keys++
        if (keys !== this.hotKeys) this.checkDeclared(op)
        size += hot
        continue
      }
      this.checkDeclared(op)
      // msgpackr's result is a view of its own scratch buffer that stays intact
      // until that buffer is full, when it starts a new one: it lasts this call.
      const packed = this.packr.pack(op)
      generic[genericCount++] = packed
      tags[i] = GENERIC
      size += 1 + 4 + packed.length
    }
    // Every byte is written below (checked at the end), so the memory need not
    // be zeroed first: allocUnsafeSlow gives a Buffer of its own ArrayBuffer of
    // exactly `size` bytes (never the shared pool), which can be transferred.
    this.buf = Buffer.allocUnsafeSlow(size)
    const ab = this.buf.buffer as ArrayBuffer
    this.pos = 0
    let g = 0
    for (let i = 0; i < n; i++) {
      const tag = tags[i]!
      if (tag !== GENERIC) {
        this.writeEntry(ops[i] as AnyOp, tag)
        continue
      }
      this.buf[this.pos++] = GENERIC
      this.writeBytes(generic[g]!)
      generic[g++] = EMPTY
    }
    this.buf = EMPTY
    // Given up once: dropped here, after both passes, so the write pass sees what the size pass saw.
    for (const ab of this.attachments) transferable.delete(ab)
    if (this.pos !== size) throw new Error(`thread ops: wrote ${this.pos} bytes, sized ${size}`)
    return ab
  }

  /**
   * pack() as a postMessage payload: the ops' ArrayBuffer alone, or followed by
   * the attachments it names. Post it as its own transfer list; unpackMessage()
   * reads it on the other thread.
   */
  packMessage(ops: readonly Op[]): ThreadMessage {
    const ab = this.pack(ops)
    return this.attachments.length === 0 ? ab : [ab, ...this.attachments]
  }

  unpackMessage(m: ThreadMessage): Op[] {
    return Array.isArray(m) ? this.unpack(m[0]!, m.slice(1)) : this.unpack(m)
  }

  /** Throw unless `op` is a declared op with only declared fields: a field no layout knows would be lost. */
  private checkDeclared(op: unknown): void {
    if (op === null || typeof op !== 'object') throw new Error(`thread ops: not an op: ${String(op)}`)
    const t = (op as AnyOp).t
    const fields = typeof t === 'string' ? this.declared[t] : undefined
    if (fields === undefined) throw new Error(`thread ops: unknown op ${JSON.stringify(t)}`)
    for (const k in op) {
      if (fields[k] === undefined && k !== 't') throw new Error(`thread op ${t}: field ${JSON.stringify(k)} is not declared for it (OP_FIELDS in thread-messages.ts)`)
    }
  }

  /** Bytes of `op` as a hot entry (its tag goes in tags[i]), or -1 when it is not one. */
  private hotSize(op: AnyOp, i: number): number {
    switch (op.t) {
      case 'pub': {
        const { topic, records } = op
        if (typeof op.id !== 'number' || typeof topic !== 'string' || !isU32(op.partition) || !isU32(op.count)) return -1
        if (!(records instanceof Uint8Array) || typeof op.confirm !== 'boolean') return -1
        if (!isOptionalNumber(op.producerId) || !isOptionalNumber(op.sequence)) return -1
        const topicBytes = stringBytes(topic)
        if (topicBytes < 0) return -1
        this.tags[i] = PUB
        this.hotKeys = 7 + ('producerId' in op ? 1 : 0) + ('sequence' in op ? 1 : 0)
        return 1 + 8 + 2 + topicBytes + 4 + 4 + 1 + (op.producerId === undefined ? 0 : 8) + (op.sequence === undefined ? 0 : 8) + (isAttachable(records) ? 12 : 4 + records.length)
      }
      case 'settle': {
        const { topic, group, ranges } = op
        if (typeof op.conn !== 'number' || typeof op.sub !== 'number' || typeof topic !== 'string' || !isU32(op.partition)) return -1
        if (typeof group !== 'string' || typeof op.delayMs !== 'number' || ACK_KINDS.indexOf(op.kind as AckKind) < 0) return -1
        if (!Array.isArray(ranges) || !numbersOnly(ranges)) return -1
        const topicBytes = stringBytes(topic)
        const groupBytes = stringBytes(group)
        if (topicBytes < 0 || groupBytes < 0) return -1
        this.tags[i] = SETTLE
        this.hotKeys = 9
        return 1 + 8 + 8 + 2 + topicBytes + 4 + 2 + groupBytes + 1 + 8 + 4 + 8 * ranges.length
      }
      case 'out': {
        const { bytes } = op
        if (typeof op.conn !== 'number' || !(bytes instanceof Uint8Array)) return -1
        this.hotKeys = 3
        if (bytes.length >= ATTACH_MIN_BYTES && transferable.has(bytes.buffer)) {
          this.tags[i] = OUT_ATTACHED
          return 1 + 8 + 4 + 4 + 4
        }
        this.tags[i] = OUT
        return 1 + 8 + 4 + bytes.length
      }
      case 'done': {
        if (typeof op.id !== 'number') return -1
        const { result } = op
        this.hotKeys = 'result' in op ? 3 : 2
        if (typeof result === 'number') {
          this.tags[i] = DONE_NUMBER
          return 1 + 8 + 8
        }
        if (result === null || result === undefined) {
          this.tags[i] = result === null ? DONE_NULL : DONE_UNDEF
          return 1 + 8
        }
        const fetched = fetchedSize(result, isAttachable)
        if (fetched < 0) return -1
        this.tags[i] = DONE_FETCHED
        return 1 + 8 + fetched
      }
      case 'replAppend': {
        const { topic, batches, groups, diverging } = op
        if (typeof op.id !== 'number' || typeof topic !== 'string' || !isU32(op.partition) || typeof op.epoch !== 'number' || typeof op.hw !== 'number' || typeof op.logStart !== 'number') return -1
        if (!(batches instanceof Uint8Array) || !(groups instanceof Uint8Array) || (diverging !== undefined && !isDiverging(diverging))) return -1
        const topicBytes = stringBytes(topic)
        if (topicBytes < 0) return -1
        this.tags[i] = REPL_APPEND
        this.hotKeys = 'diverging' in op ? 10 : 9
        return 1 + 8 + 2 + topicBytes + 4 + 8 + 8 + 8 + 1 + (diverging === undefined ? 0 : 16) + (batches.length >= ATTACH_MIN_BYTES ? 12 : 4 + batches.length) + 4 + groups.length
      }
    }
    return -1
  }

  private writeF64(v: number): void {
    const f64Bytes = this.f64Bytes
    this.f64[0] = v
    const b = this.buf
    const p = this.pos
    b[p] = f64Bytes[0]!
    b[p + 1] = f64Bytes[1]!
    b[p + 2] = f64Bytes[2]!
    b[p + 3] = f64Bytes[3]!
    b[p + 4] = f64Bytes[4]!
    b[p + 5] = f64Bytes[5]!
    b[p + 6] = f64Bytes[6]!
    b[p + 7] = f64Bytes[7]!
    this.pos = p + 8
  }

  private writeU32(v: number): void {
    const b = this.buf
    const p = this.pos
    b[p] = v
    b[p + 1] = v >>> 8
    b[p + 2] = v >>> 16
    b[p + 3] = v >>> 24
    this.pos = p + 4
  }

  private writeString(s: string): void {
    const buf = this.buf
    const pos = this.pos
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
    this.pos = end
  }

  private writeBytes(b: Uint8Array): void {
    this.writeU32(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  private writeEntry(op: AnyOp, tag: number): void {
    this.buf[this.pos++] = tag
    switch (tag) {
      case PUB: {
        const producerId = op.producerId as number | undefined
        const sequence = op.sequence as number | undefined
        const records = op.records as Uint8Array
        const attached = isAttachable(records)
        this.writeF64(op.id as number)
        this.writeString(op.topic as string)
        this.writeU32(op.partition as number)
        this.writeU32(op.count as number)
        this.buf[this.pos++] = (op.confirm ? CONFIRM : 0) | (producerId === undefined ? 0 : HAS_PRODUCER_ID) | (sequence === undefined ? 0 : HAS_SEQUENCE) | (attached ? RECORDS_ATTACHED : 0)
        if (producerId !== undefined) this.writeF64(producerId)
        if (sequence !== undefined) this.writeF64(sequence)
        if (attached) this.writeAttachment(records)
        else this.writeBytes(records)
        return
      }
      case SETTLE: {
        const ranges = op.ranges as number[]
        this.writeF64(op.conn as number)
        this.writeF64(op.sub as number)
        this.writeString(op.topic as string)
        this.writeU32(op.partition as number)
        this.writeString(op.group as string)
        this.buf[this.pos++] = ACK_KINDS.indexOf(op.kind as AckKind)
        this.writeF64(op.delayMs as number)
        this.writeU32(ranges.length)
        for (let i = 0; i < ranges.length; i++) this.writeF64(ranges[i]!)
        return
      }
      case OUT:
        this.writeF64(op.conn as number)
        this.writeBytes(op.bytes as Uint8Array)
        return
      case OUT_ATTACHED:
        this.writeF64(op.conn as number)
        this.writeAttachment(op.bytes as Uint8Array)
        return
      case DONE_NUMBER:
        this.writeF64(op.id as number)
        this.writeF64(op.result as number)
        return
      case DONE_NULL:
      case DONE_UNDEF:
        this.writeF64(op.id as number)
        return
      case DONE_FETCHED: {
        const answers = op.result as FetchAnswer[]
        this.writeF64(op.id as number)
        this.writeU32(answers.length)
        for (const a of answers) this.writeFetchAnswer(a)
        return
      }
      case REPL_APPEND: {
        const diverging = op.diverging as { epoch: number; endOffset: number } | undefined
        this.writeF64(op.id as number)
        this.writeString(op.topic as string)
        this.writeU32(op.partition as number)
        this.writeF64(op.epoch as number)
        this.writeF64(op.hw as number)
        this.writeF64(op.logStart as number)
        const batches = op.batches as Uint8Array
        const attached = batches.length >= ATTACH_MIN_BYTES
        this.buf[this.pos++] = (diverging === undefined ? 0 : HAS_DIVERGING) | (attached ? BATCHES_ATTACHED : 0)
        if (diverging !== undefined) {
          this.writeF64(diverging.epoch)
          this.writeF64(diverging.endOffset)
        }
        if (!attached) this.writeBytes(batches)
        // Copied once, into an ArrayBuffer of their own (unless given up already): see thread-layout.ts.
        else this.writeAttachment(isAttachable(batches) ? batches : ownCopy(batches))
        this.writeBytes(op.groups as Uint8Array)
        return
      }
    }
  }

  private writeFetchAnswer(a: FetchAnswer): void {
    const { batches, divergingEpoch, error, groups, logStart } = a
    const attached = isAttachable(batches)
    this.writeString(a.topic)
    this.writeU32(a.partition)
    this.writeF64(a.hw)
    this.writeF64(a.leaderEnd)
    this.writeF64(a.acked)
    this.buf[this.pos++] =
      (a.caughtUp ? FETCHED_CAUGHT_UP : 0) | (divergingEpoch === undefined ? 0 : FETCHED_DIVERGING) | (error === undefined ? 0 : FETCHED_ERROR) | (groups === undefined ? 0 : FETCHED_GROUPS) | (attached ? FETCHED_ATTACHED : 0) | (logStart === undefined ? 0 : FETCHED_LOG_START)
    if (divergingEpoch !== undefined) {
      this.writeF64(divergingEpoch.epoch)
      this.writeF64(divergingEpoch.endOffset)
    }
    if (error !== undefined) this.writeString(error)
    if (groups !== undefined) this.writeBytes(groups)
    if (logStart !== undefined) this.writeF64(logStart)
    if (!attached) return this.writeBytes(batches)
    this.writeAttachment(batches)
  }

  /** Name `bytes` as a view of an attachment: their ArrayBuffer goes beside the ops' own, transferred. */
  private writeAttachment(bytes: Uint8Array): void {
    const ab = bytes.buffer as ArrayBuffer
    let index = this.attachments.indexOf(ab)
    if (index < 0) index = this.attachments.push(ab) - 1
    this.writeU32(index)
    this.writeU32(bytes.byteOffset)
    this.writeU32(bytes.length)
  }

  /**
   * Decode what pack encoded. Byte fields (`pub` records, `out` bytes) are
   * Buffer views of `buffer`, not copies: it must not be written to afterwards.
   */
  unpack(buffer: ArrayBuffer, attachments: readonly ArrayBuffer[] = NO_ATTACHMENTS): Op[] {
    this.received = attachments
    this.ab = buffer
    const src = (this.src = Buffer.from(buffer))
    this.at = 0
    const end = buffer.byteLength
    const ops: Op[] = []
    while (this.at < end) {
      const tag = src[this.at++]
      switch (tag) {
        case PUB: {
          const id = this.readF64()
          const topic = this.readString()
          const partition = this.readU32()
          const count = this.readU32()
          const flags = src[this.at++]!
          const producerId = flags & HAS_PRODUCER_ID ? this.readF64() : undefined
          const sequence = flags & HAS_SEQUENCE ? this.readF64() : undefined
          const records = flags & RECORDS_ATTACHED ? this.readAttachment() : this.readBytes()
          const op: Complete<'pub'> = { t: 'pub', id, topic, partition, count, records, confirm: (flags & CONFIRM) !== 0, producerId, sequence }
          ops.push(op)
          break
        }
        case SETTLE: {
          const conn = this.readF64()
          const sub = this.readF64()
          const topic = this.readString()
          const partition = this.readU32()
          const group = this.readString()
          const kind = ACK_KINDS[src[this.at++]!]!
          const delayMs = this.readF64()
          const ranges: number[] = new Array(this.readU32())
          for (let i = 0; i < ranges.length; i++) ranges[i] = this.readF64()
          const op: Complete<'settle'> = { t: 'settle', conn, sub, topic, partition, group, kind, ranges, delayMs }
          ops.push(op)
          break
        }
        case OUT: {
          const conn = this.readF64()
          const op: Complete<'out'> = { t: 'out', conn, bytes: this.readBytes() }
          ops.push(op)
          break
        }
        case OUT_ATTACHED: {
          const conn = this.readF64()
          const op: Complete<'out'> = { t: 'out', conn, bytes: this.readAttachment() }
          ops.push(op)
          break
        }
        case DONE_FETCHED: {
          const id = this.readF64()
          const answers: FetchAnswer[] = new Array(this.readU32())
          for (let i = 0; i < answers.length; i++) answers[i] = this.readFetchAnswer()
          const op: Complete<'done'> = { t: 'done', id, result: answers }
          ops.push(op)
          break
        }
        case REPL_APPEND: {
          const id = this.readF64()
          const topic = this.readString()
          const partition = this.readU32()
          const epoch = this.readF64()
          const hw = this.readF64()
          const logStart = this.readF64()
          const flags = src[this.at++]!
          const diverging = flags & HAS_DIVERGING ? { epoch: this.readF64(), endOffset: this.readF64() } : undefined
          const batches = flags & BATCHES_ATTACHED ? this.readAttachment() : this.readBytes()
          const op: Complete<'replAppend'> = { t: 'replAppend', id, topic, partition, epoch, hw, logStart, batches, diverging, groups: this.readBytes() }
          ops.push(op)
          break
        }
        case DONE_NUMBER: {
          const id = this.readF64()
          const op: Complete<'done'> = { t: 'done', id, result: this.readF64() }
          ops.push(op)
          break
        }
        case DONE_NULL:
        case DONE_UNDEF: {
          const op: Complete<'done'> = { t: 'done', id: this.readF64(), result: tag === DONE_NULL ? null : undefined }
          ops.push(op)
          break
        }
        case GENERIC: {
          const n = this.readU32()
          ops.push(this.unpackr.unpack(src.subarray(this.at, this.at + n)) as Op)
          this.at += n
          break
        }
        default:
          throw new Error(`thread ops: unknown entry tag ${tag} at byte ${this.at - 1}`)
      }
    }
    this.ab = EMPTY_AB
    this.src = EMPTY
    this.received = NO_ATTACHMENTS
    return ops
  }

  private readF64(): number {
    const f64Bytes = this.f64Bytes
    const b = this.src
    const p = this.at
    f64Bytes[0] = b[p]!
    f64Bytes[1] = b[p + 1]!
    f64Bytes[2] = b[p + 2]!
    f64Bytes[3] = b[p + 3]!
    f64Bytes[4] = b[p + 4]!
    f64Bytes[5] = b[p + 5]!
    f64Bytes[6] = b[p + 6]!
    f64Bytes[7] = b[p + 7]!
    this.at = p + 8
    return this.f64[0]!
  }

  private readU32(): number {
    const b = this.src
    const p = this.at
    this.at = p + 4
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
  }

  private readString(): string {
    const b = this.src
    const at = this.at
    const start = at + 2
    const n = b[at]! | (b[at + 1]! << 8)
    const end = start + n
    this.at = end
    if (n === 0) return ''
    if (n > CACHED_STRING_BYTES) return b.toString('utf8', start, end)
    let h = n
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + b[i]!) | 0
    const slot = (h ^ (h >>> 16)) & (CACHE_SLOTS - 1)
    const seen = this.cachedBytes[slot]!
    if (seen.length === n) {
      let i = 0
      while (i < n && seen[i] === b[start + i]) i++
      if (i === n) return this.cachedStrings[slot]!
    }
    const s = b.toString('utf8', start, end)
    this.cachedBytes[slot] = Uint8Array.prototype.slice.call(b, start, end)
    this.cachedStrings[slot] = s
    return s
  }

  private readFetchAnswer(): FetchAnswer {
    const topic = this.readString()
    const partition = this.readU32()
    const hw = this.readF64()
    const leaderEnd = this.readF64()
    const acked = this.readF64()
    const flags = this.src[this.at++]!
    const divergingEpoch = flags & FETCHED_DIVERGING ? { epoch: this.readF64(), endOffset: this.readF64() } : undefined
    const error = flags & FETCHED_ERROR ? this.readString() : undefined
    const groups = flags & FETCHED_GROUPS ? this.readBytes() : undefined
    const logStart = flags & FETCHED_LOG_START ? this.readF64() : undefined
    const batches = flags & FETCHED_ATTACHED ? this.readAttachment() : this.readBytes()
    return { topic, partition, hw, leaderEnd, batches, divergingEpoch, error, groups, logStart, caughtUp: (flags & FETCHED_CAUGHT_UP) !== 0, acked }
  }

  /** The bytes an attachment entry names: a view of an ArrayBuffer transferred with the message. */
  private readAttachment(): Buffer {
    const attachment = this.received[this.readU32()]
    const at = this.readU32()
    const length = this.readU32()
    if (attachment === undefined || at + length > attachment.byteLength) throw new Error('thread ops: an attachment the message does not carry')
    return Buffer.from(attachment, at, length)
  }

  /** A view of the next byte field: the caller keeps it, so the ArrayBuffer stays alive with it. */
  private readBytes(): Buffer {
    const n = this.readU32()
    const b = Buffer.from(this.ab, this.at, n)
    this.at += n
    return b
  }
}
