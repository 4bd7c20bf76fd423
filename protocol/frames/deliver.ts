/**
 * DELIVER (0x22), broker -> client: messages for one subscription.
 *   sub       uint    the subscription
 *   messages  array   each an array [partition, offset, timestamp, deliveryCount, record]
 *                     where record is bin in the record encoding (one record)
 * Workers encode DELIVER frames themselves; the gateway only copies bytes.
 *
 * Two readers: `decodeDeliver`, the generic one (MessagePack to values, one
 * array per message, records still encoded), and `readDeliver`, the client's:
 * it checks the frame and its records in one walk over the bytes and then
 * hands each message's parts to a sink, without a value per message. Both
 * accept the same frames and refuse the same ones with the same errors
 * (test/protocol/deliver-reader.test.ts holds them to that).
 */
import { Op } from '../opcodes.js'
import { Fields } from '../fields.js'
import { SkiffError } from '../errors.js'
import { writeArrayHeader, writeBin, writeUint } from './msgpack-write.js'
import { RECORD_OVERHEAD, readHeaders, walkRecords, type Headers, type RecordView } from '../records.js'
import { u16, u32 } from '../bytes.js'

/** [partition, offset, timestamp, deliveryCount, record] */
export type Delivery = [number, number, number, number, Uint8Array]

export interface Deliver {
  sub: number
  messages: Delivery[]
}

/**
 * DELIVER is the broker's hottest frame, so it is written byte by byte rather
 * than through the generic packer: the same MessagePack the generic path
 * writes (golden vector deliver.json checks that), one allocation per frame,
 * no intermediate objects.
 */
export function encodeDeliver(d: Deliver): Buffer {
  let size = DELIVER_HEAD_MAX
  for (const m of d.messages) size += MESSAGE_HEAD_MAX + m[4].length
  const out = Buffer.allocUnsafe(size)
  let pos = writeDeliverHead(out, d.sub, d.messages.length)
  for (const m of d.messages) pos = writeMessage(out, pos, m[0], m[1], m[2], m[3], m[4])
  return finishDeliver(out, pos)
}

/** A stored record to deliver: its offset, its batch's timestamp, its bytes (record encoding). */
export interface StoredRecord {
  offset: number
  timestamp: number
  record: Uint8Array
}

/**
 * DELIVER for records of one partition handed over as the stored records
 * themselves, so the broker's worker makes no array per message: the same
 * bytes as encodeDeliver. `counts[i]` is records[i]'s delivery count; without
 * `counts` every record is on its first delivery.
 */
export function encodeDeliverRecords(sub: number, partition: number, records: readonly StoredRecord[], counts?: readonly number[]): Buffer {
  let size = DELIVER_HEAD_MAX
  for (const r of records) size += MESSAGE_HEAD_MAX + r.record.length
  const out = Buffer.allocUnsafe(size)
  let pos = writeDeliverHead(out, sub, records.length)
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    pos = writeMessage(out, pos, partition, r.offset, r.timestamp, counts === undefined ? 1 : counts[i]!, r.record)
  }
  return finishDeliver(out, pos)
}

/** Most bytes before the messages: frame header, map of 2, "sub", its value, "messages", the array header. */
const DELIVER_HEAD_MAX = 5 + 1 + 4 + 9 + 9 + 5
/** Most bytes of a message besides its record: array of 5, four uints, the bin header. */
const MESSAGE_HEAD_MAX = 1 + 9 + 9 + 9 + 9 + 5

/** The map up to the messages array's header (the frame header is written last, by finishDeliver). */
function writeDeliverHead(out: Buffer, sub: number, count: number): number {
  let pos = 5
  out[pos++] = 0x82 // map of 2
  pos += out.write('\xa3sub', pos, 'latin1')
  pos = writeUint(out, pos, sub)
  pos += out.write('\xa8messages', pos, 'latin1')
  return writeArrayHeader(out, pos, count)
}

function writeMessage(out: Buffer, pos: number, partition: number, offset: number, timestamp: number, deliveryCount: number, record: Uint8Array): number {
  out[pos++] = 0x95 // array of 5
  pos = writeUint(out, pos, partition)
  pos = writeUint(out, pos, offset)
  pos = writeUint(out, pos, timestamp)
  pos = writeUint(out, pos, deliveryCount)
  return writeBin(out, pos, record)
}

/** The frame header, now that its length is known; the frame is out[0, end). */
function finishDeliver(out: Buffer, end: number): Buffer {
  out.writeUInt32BE(end - 4, 0)
  out[4] = Op.DELIVER
  return out.subarray(0, end)
}

export function decodeDeliver(body: Buffer): Deliver {
  const f = new Fields('DELIVER', body)
  const messages = f.raw('messages')
  if (!Array.isArray(messages)) throw new SkiffError('BAD_FRAME', 'DELIVER.messages must be an array')
  for (const m of messages) {
    if (
      !Array.isArray(m) ||
      m.length !== 5 ||
      !Number.isInteger(m[0]) ||
      !Number.isInteger(m[1]) ||
      !Number.isInteger(m[2]) ||
      !Number.isInteger(m[3]) ||
      !(m[4] instanceof Uint8Array)
    ) {
      throw new SkiffError('BAD_FRAME', 'DELIVER message must be [partition, offset, timestamp, deliveryCount, record]')
    }
  }
  return { sub: f.uint('sub', 0xffffffff), messages: messages as Delivery[] }
}

/** Where readDeliver's messages go: one call per message, in frame order. */
export interface DeliverSink {
  /**
   * One message. Its record lies in `bytes`: the key in [keyStart, keyEnd)
   * (UTF-8; empty means no key), the payload in [payloadStart, payloadEnd).
   * `headers` are decoded already, undefined when the record has none.
   */
  message(
    partition: number,
    offset: number,
    timestamp: number,
    deliveryCount: number,
    bytes: Buffer,
    keyStart: number,
    keyEnd: number,
    headers: Headers | undefined,
    payloadStart: number,
    payloadEnd: number,
  ): void
}

/** A message the generic decoder read, with where its record's parts lie. */
interface DecodedMessage {
  delivery: Delivery
  bytes: Buffer
  view: RecordView
  headers: Headers | undefined
}

/**
 * A checked DELIVER body, from readDeliver. Every message and record in it
 * was checked when it was read, so forEach never throws and hands out all
 * messages or (readDeliver threw) none. `messages` gives the generic form.
 */
export class DeliverFrame implements Deliver {
  /** Made by readDeliver. @internal */
  constructor(
    readonly sub: number,
    /** How many messages the frame carries. */
    readonly count: number,
    private readonly body: Buffer,
    /** Where the first message starts in `body` (the layout encodeDeliver writes). */
    private readonly first: number,
    /** Decoded headers by message index, when any record of the frame has headers. */
    private readonly headers: (Headers | undefined)[] | undefined,
    /** Set instead of `first` when the frame was read by the generic decoder. */
    private readonly decoded: DecodedMessage[] | undefined,
  ) {}

  /** True when the frame was walked by hand (the layout encodeDeliver writes), false when the generic decoder read it. */
  get byHand(): boolean {
    return this.decoded === undefined
  }

  /** The messages in the generic form (built on each call: the hot path uses forEach). */
  get messages(): Delivery[] {
    if (this.decoded) return this.decoded.map((m) => m.delivery)
    const out: Delivery[] = []
    this.forEach({
      // The record starts 6 bytes (its length and key length fields) before its key.
      message: (p, o, t, c, bytes, keyStart, _ke, _h, _ps, end) => void out.push([p, o, t, c, bytes.subarray(keyStart - 6, end)]),
    })
    return out
  }

  /** Hand every message to `sink`, in frame order. */
  forEach(sink: DeliverSink): void {
    if (this.decoded) {
      for (const m of this.decoded) {
        const [p, o, t, c] = m.delivery
        sink.message(p, o, t, c, m.bytes, m.view.keyStart, m.view.keyEnd, m.headers, m.view.headersEnd, m.view.end)
      }
      return
    }
    const b = this.body
    const headers = this.headers
    let pos = this.first
    for (let i = 0; i < this.count; i++) {
      pos++ // 0x95, array of 5
      const partition = uintAt(b, pos)
      pos += UINT_BYTES[b[pos]!]!
      const offset = uintAt(b, pos)
      pos += UINT_BYTES[b[pos]!]!
      const timestamp = uintAt(b, pos)
      pos += UINT_BYTES[b[pos]!]!
      const deliveryCount = uintAt(b, pos)
      pos += UINT_BYTES[b[pos]!]!
      const t = b[pos]!
      const rec = pos + (t === 0xc4 ? 2 : t === 0xc5 ? 3 : 5)
      const end = rec + 4 + u32(b, rec)
      const keyEnd = rec + 6 + u16(b, rec + 4)
      const payloadStart = keyEnd + 4 + u32(b, keyEnd)
      sink.message(partition, offset, timestamp, deliveryCount, b, rec + 6, keyEnd, headers?.[i], payloadStart, end)
      pos = end
    }
  }
}

/**
 * Read a DELIVER body for a client. The layout encodeDeliver writes (a map of
 * `sub` then `messages`, integers in the forms it writes, bin records) is
 * walked by hand; anything else, well-formed or not, goes to the generic
 * decoder, which then accepts it or refuses it exactly as it always did. The
 * walk therefore only has to recognise good frames: at the first byte it does
 * not expect it gives up and lets the generic decoder find the error.
 * Throws BAD_FRAME (structure) or INVALID_REQUEST (a field, a record or its
 * headers), like decodeDeliver followed by decodeRecord on every record.
 */
export function readDeliver(body: Buffer): DeliverFrame {
  return walkDeliver(body) ?? decodeGeneric(body)
}

function decodeGeneric(body: Buffer): DeliverFrame {
  const d = decodeDeliver(body)
  const decoded = d.messages.map((delivery): DecodedMessage => {
    const bin = delivery[4]
    const bytes = Buffer.isBuffer(bin) ? bin : Buffer.from(bin.buffer, bin.byteOffset, bin.byteLength)
    let view: RecordView | undefined
    walkRecords(bytes, 1, (v) => (view = v))
    const v = view!
    const headers = v.headersEnd > v.headersStart ? readHeaders(bytes.subarray(v.headersStart, v.headersEnd)) : undefined
    return { delivery, bytes, view: v, headers }
  })
  return new DeliverFrame(d.sub, decoded.length, body, -1, undefined, decoded)
}

/** Bytes of each MessagePack integer form the walk accepts, by type byte; 0 for every other type. */
const UINT_BYTES = new Uint8Array(256)
UINT_BYTES.fill(1, 0, 0x80) // positive fixint
UINT_BYTES[0xcc] = 2 // uint8
UINT_BYTES[0xcd] = 3 // uint16
UINT_BYTES[0xce] = 5 // uint32
UINT_BYTES[0xd3] = 9 // int64, as written for values past 32 bits; the walk takes 0 <= n < 2^53 only

/** "messages" as a fixstr key. */
const MESSAGES_KEY = Buffer.from('\xa8messages', 'latin1')

/** The integer at `pos`, in one of the forms of UINT_BYTES (checked by the walk). */
function uintAt(b: Buffer, pos: number): number {
  const t = b[pos]!
  if (t < 0x80) return t
  if (t === 0xcc) return b[pos + 1]!
  if (t === 0xcd) return u16(b, pos + 1)
  if (t === 0xce) return u32(b, pos + 1)
  return u32(b, pos + 1) * 0x100000000 + u32(b, pos + 5)
}

/** Bytes of the integer at `pos` when the walk accepts it there (it fits in `end`), else 0. */
function uintBytes(b: Buffer, pos: number, end: number): number {
  if (pos >= end) return 0
  const n = UINT_BYTES[b[pos]!]!
  if (pos + n > end) return 0
  // int64: only 0..2^53-1, which reads back exactly as the generic decoder reads it
  if (n === 9 && u32(b, pos + 1) >= 0x200000) return 0
  return n
}

/**
 * Check a body laid out as encodeDeliver writes it, records and headers
 * included. Undefined at the first thing it does not expect: the caller then
 * asks the generic decoder, which accepts or refuses it.
 */
function walkDeliver(b: Buffer): DeliverFrame | undefined {
  const end = b.length
  // 0x82 (map of 2), "sub" as fixstr
  if (end < 16 || b[0] !== 0x82 || b[1] !== 0xa3 || b[2] !== 0x73 || b[3] !== 0x75 || b[4] !== 0x62) return undefined
  let pos = 5
  const subBytes = uintBytes(b, pos, end)
  if (subBytes === 0 || subBytes === 9) return undefined // past 32 bits: the generic decoder refuses it
  const sub = uintAt(b, pos)
  pos += subBytes
  if (pos + MESSAGES_KEY.length > end || MESSAGES_KEY.compare(b, pos, pos + MESSAGES_KEY.length) !== 0) return undefined
  pos += MESSAGES_KEY.length
  if (pos >= end) return undefined
  let count: number
  const a = b[pos]!
  if (a >= 0x90 && a <= 0x9f) {
    count = a & 0x0f
    pos += 1
  } else if (a === 0xdc && pos + 3 <= end) {
    count = u16(b, pos + 1)
    pos += 3
  } else if (a === 0xdd && pos + 5 <= end) {
    count = u32(b, pos + 1)
    pos += 5
  } else return undefined
  const first = pos
  let headers: (Headers | undefined)[] | undefined
  for (let i = 0; i < count; i++) {
    if (pos >= end || b[pos] !== 0x95) return undefined
    pos++
    for (let k = 0; k < 4; k++) {
      const n = uintBytes(b, pos, end)
      if (n === 0) return undefined
      pos += n
    }
    if (pos >= end) return undefined
    let rec: number
    let binLength: number
    const t = b[pos]!
    if (t === 0xc4 && pos + 2 <= end) {
      binLength = b[pos + 1]!
      rec = pos + 2
    } else if (t === 0xc5 && pos + 3 <= end) {
      binLength = u16(b, pos + 1)
      rec = pos + 3
    } else if (t === 0xc6 && pos + 5 <= end) {
      binLength = u32(b, pos + 1)
      rec = pos + 5
    } else return undefined
    const recEnd = rec + binLength
    if (recEnd > end) return undefined
    // Exactly one record fills the bin (walkRecords(bin, 1) accepts nothing else).
    if (binLength < RECORD_OVERHEAD || u32(b, rec) !== binLength - 4) return undefined
    const keyEnd = rec + 6 + u16(b, rec + 4)
    if (keyEnd + 4 > recEnd) return undefined
    const headersEnd = keyEnd + 4 + u32(b, keyEnd)
    if (headersEnd > recEnd) return undefined
    if (headersEnd > keyEnd + 4) {
      try {
        ;(headers ??= [])[i] = readHeaders(b.subarray(keyEnd + 4, headersEnd))
      } catch {
        return undefined
      }
    }
    pos = recEnd
  }
  return pos === end ? new DeliverFrame(sub, count, b, first, headers, undefined) : undefined
}
