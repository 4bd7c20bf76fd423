/**
 * DELIVER (0x22), broker -> client: messages for one subscription.
 *   sub       uint    the subscription
 *   messages  array   each an array [partition, offset, timestamp, deliveryCount, record]
 *                     where record is bin in the record encoding (one record)
 * Workers encode DELIVER frames themselves; the gateway only copies bytes.
 *
 * Two readers: `decodeDeliver`, the generic one (MessagePack to values, one
 * array per message, records still encoded), and `readDeliver`, the client's:
 * it checks the frame and its records in one walk over the bytes (with the
 * readers of msgpack-read.ts, which PUBLISH's reader shares) and then fills
 * one DeliveryView per message in turn, without a value per message. Both
 * accept the same frames and refuse the same ones with the same errors
 * (test/protocol/deliver-reader.test.ts holds them to that).
 */
import { Op } from '../opcodes.js'
import { Fields } from '../fields.js'
import { SkiffError } from '../errors.js'
import { writeArrayHeader, writeBin, writeUint } from './msgpack-write.js'
import { RECORD_OVERHEAD, readHeaders, walkRecords, type Headers, type RecordView } from '../records.js'
import { u16, u32 } from '../bytes.js'
import { Cursor, readArrayHeader, readBin, readKey, readMapHeader, readUint, nextUint, skipUints } from '../msgpack-read.js'

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
  // A frame past a pool slice gets an ArrayBuffer of its own, never the shared pool's, whatever
  // Buffer.poolSize is: the broker's worker transfers such a frame to the gateway instead of copying it.
  const out = size >= POOLED_MAX ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size)
  let pos = writeDeliverHead(out, sub, records.length)
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    pos = writeMessage(out, pos, partition, r.offset, r.timestamp, counts === undefined ? 1 : counts[i]!, r.record)
  }
  return finishDeliver(out, pos)
}

/** Frames smaller than this come from Buffer's shared pool (its default slice limit). */
const POOLED_MAX = 4096

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

const NO_BYTES = Buffer.alloc(0)

/**
 * One message of a DeliverFrame, filled in place by forEachView: the same
 * view for every message of the frame, so its fields hold only until the
 * next one. Its record lies in `bytes`: the key in [keyStart, keyEnd) (UTF-8;
 * empty means no key), the payload in [payloadStart, payloadEnd); `headers`
 * are decoded already, undefined when the record has none. @internal
 */
export class DeliveryView {
  partition = 0
  offset = 0
  timestamp = 0
  deliveryCount = 0
  bytes: Buffer = NO_BYTES
  keyStart = 0
  keyEnd = 0
  headers: Headers | undefined = undefined
  payloadStart = 0
  payloadEnd = 0
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

  /** The messages in the generic form (built on each call: the hot path uses forEachView). */
  get messages(): Delivery[] {
    if (this.decoded) return this.decoded.map((m) => m.delivery)
    const out: Delivery[] = []
    // The record starts 6 bytes (its length and key length fields) before its key.
    this.forEachView(new DeliveryView(), (v) => void out.push([v.partition, v.offset, v.timestamp, v.deliveryCount, v.bytes.subarray(v.keyStart - 6, v.payloadEnd)]))
    return out
  }

  /** Hand every message to `sink`, in frame order. */
  forEach(sink: DeliverSink): void {
    this.forEachView(new DeliveryView(), (v) => sink.message(v.partition, v.offset, v.timestamp, v.deliveryCount, v.bytes, v.keyStart, v.keyEnd, v.headers, v.payloadStart, v.payloadEnd))
  }

  /** Fill `view` with every message in turn, in frame order, and call `visit` after each. @internal */
  forEachView(view: DeliveryView, visit: (view: DeliveryView) => void): void {
    if (this.decoded) {
      for (const m of this.decoded) {
        const [partition, offset, timestamp, deliveryCount] = m.delivery
        view.partition = partition
        view.offset = offset
        view.timestamp = timestamp
        view.deliveryCount = deliveryCount
        view.bytes = m.bytes
        view.keyStart = m.view.keyStart
        view.keyEnd = m.view.keyEnd
        view.headers = m.headers
        view.payloadStart = m.view.headersEnd
        view.payloadEnd = m.view.end
        visit(view)
      }
      return
    }
    // walkDeliver checked every message, so they read without checks and the records' lengths hold.
    // (The loop is written out here rather than in a method per message: V8 would not inline
    // that method, and the cursor would then live in memory instead of registers.)
    const b = this.body
    const headers = this.headers
    const c = new Cursor(b, this.first)
    for (let i = 0; i < this.count; i++) {
      readArrayHeader(c) // [partition, offset, timestamp, deliveryCount, record]
      view.partition = nextUint(c)
      view.offset = nextUint(c)
      view.timestamp = nextUint(c)
      view.deliveryCount = nextUint(c)
      const rec = readBin(c)
      const keyEnd = rec + 6 + u16(b, rec + 4)
      view.bytes = b
      view.keyStart = rec + 6
      view.keyEnd = keyEnd
      view.headers = headers?.[i]
      view.payloadStart = keyEnd + 4 + u32(b, keyEnd)
      view.payloadEnd = c.pos
      visit(view)
    }
  }
}

/**
 * Read a DELIVER body for a client. The layout encodeDeliver writes (a map of
 * `sub` then `messages`, non-negative integers, bin records) is walked by
 * hand; anything else, well-formed or not, goes to the generic decoder, which
 * then accepts it or refuses it exactly as it always did. The walk therefore
 * only has to recognise good frames: at the first byte it does not expect it
 * gives up and lets the generic decoder find the error.
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

/** The map keys as written (fixstr). */
const SUB_KEY = Buffer.from('\xa3sub', 'latin1')
const MESSAGES_KEY = Buffer.from('\xa8messages', 'latin1')

/**
 * Check a body laid out as encodeDeliver writes it, records and headers
 * included. Undefined at the first thing it does not expect: the caller then
 * asks the generic decoder, which accepts or refuses it.
 */
function walkDeliver(b: Buffer): DeliverFrame | undefined {
  // The fields before the messages get a cursor of their own: V8 does not
  // inline these once-per-frame calls, and a cursor handed to a call it does
  // not inline has to live in memory; the messages' cursor, handed only to
  // readers V8 inlines, stays in registers (measured: 2-4 ns per message).
  const head = new Cursor(b)
  if (readMapHeader(head) !== 2 || !readKey(head, SUB_KEY)) return undefined
  const sub = readUint(head)
  if (sub < 0 || sub > 0xffffffff) return undefined // past 32 bits: the generic decoder refuses it
  if (!readKey(head, MESSAGES_KEY)) return undefined
  const count = readArrayHeader(head)
  if (count < 0) return undefined
  const first = head.pos
  const c = new Cursor(b, first)
  let headers: (Headers | undefined)[] | undefined
  for (let i = 0; i < count; i++) {
    if (readArrayHeader(c) !== 5) return undefined
    // partition, offset, timestamp, deliveryCount: 0 <= n < 2^53, which read back exactly as the generic decoder reads them
    if (!skipUints(c, 4)) return undefined
    const rec = readBin(c)
    if (rec < 0) return undefined
    const recEnd = c.pos
    const binLength = recEnd - rec
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
  }
  return c.pos === b.length ? new DeliverFrame(sub, count, b, first, headers, undefined) : undefined
}
