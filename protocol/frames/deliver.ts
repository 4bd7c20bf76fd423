/**
 * DELIVER (0x22), broker -> client: messages for one subscription.
 *   sub       uint    the subscription
 *   messages  array   each an array [partition, offset, timestamp, deliveryCount, record]
 *                     where record is bin in the record encoding (one record)
 * Workers encode DELIVER frames themselves; the gateway only copies bytes.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { SkiffError } from '../errors.js'

/** [partition, offset, timestamp, deliveryCount, record] */
export type Delivery = [number, number, number, number, Uint8Array]

export interface Deliver {
  sub: number
  messages: Delivery[]
}

export function encodeDeliver(d: Deliver): Buffer {
  return encodeFrame(Op.DELIVER, d)
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
