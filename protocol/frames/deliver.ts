/**
 * DELIVER (0x22), broker -> client: messages for one subscription.
 *   sub       uint    the subscription
 *   messages  array   each an array [partition, offset, timestamp, deliveryCount, record]
 *                     where record is bin in the record encoding (one record)
 * Workers encode DELIVER frames themselves; the gateway only copies bytes.
 */
import { Op } from '../opcodes.js'
import { Fields } from '../fields.js'
import { SkiffError } from '../errors.js'

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
  let size = 5 + 1 + 4 + 9 + 9 + 5
  for (const m of d.messages) size += 1 + 9 + 9 + 9 + 9 + 5 + m[4].length
  const out = Buffer.allocUnsafe(size)
  let pos = 5
  out[pos++] = 0x82 // map of 2
  pos += out.write('\xa3sub', pos, 'latin1')
  pos = writeUint(out, pos, d.sub)
  pos += out.write('\xa8messages', pos, 'latin1')
  pos = writeArrayHeader(out, pos, d.messages.length)
  for (const m of d.messages) {
    out[pos++] = 0x95 // array of 5
    pos = writeUint(out, pos, m[0])
    pos = writeUint(out, pos, m[1])
    pos = writeUint(out, pos, m[2])
    pos = writeUint(out, pos, m[3])
    pos = writeBin(out, pos, m[4])
  }
  out.writeUInt32BE(pos - 4, 0)
  out[4] = Op.DELIVER
  return out.subarray(0, pos)
}

/** A non-negative integer in its smallest MessagePack form; past 32 bits as int64 (0xd3), as codec.ts writes them. */
function writeUint(out: Buffer, pos: number, n: number): number {
  if (n < 0x80) {
    out[pos] = n
    return pos + 1
  }
  if (n < 0x100) {
    out[pos] = 0xcc
    out[pos + 1] = n
    return pos + 2
  }
  if (n < 0x10000) {
    out[pos] = 0xcd
    out.writeUInt16BE(n, pos + 1)
    return pos + 3
  }
  if (n < 0x100000000) {
    out[pos] = 0xce
    out.writeUInt32BE(n, pos + 1)
    return pos + 5
  }
  out[pos] = 0xd3
  out.writeUInt32BE(Math.floor(n / 0x100000000), pos + 1)
  out.writeUInt32BE(n >>> 0, pos + 5)
  return pos + 9
}

function writeArrayHeader(out: Buffer, pos: number, n: number): number {
  if (n < 16) {
    out[pos] = 0x90 | n
    return pos + 1
  }
  if (n < 0x10000) {
    out[pos] = 0xdc
    out.writeUInt16BE(n, pos + 1)
    return pos + 3
  }
  out[pos] = 0xdd
  out.writeUInt32BE(n, pos + 1)
  return pos + 5
}

function writeBin(out: Buffer, pos: number, b: Uint8Array): number {
  const n = b.length
  if (n < 0x100) {
    out[pos] = 0xc4
    out[pos + 1] = n
    pos += 2
  } else if (n < 0x10000) {
    out[pos] = 0xc5
    out.writeUInt16BE(n, pos + 1)
    pos += 3
  } else {
    out[pos] = 0xc6
    out.writeUInt32BE(n, pos + 1)
    pos += 5
  }
  out.set(b, pos)
  return pos + n
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
