/**
 * ACK (0x23), client -> broker: settle delivered messages. No reply.
 *   sub         uint     the subscription the messages were delivered to
 *   kind        string   "ack" | "nack" | "progress" | "term"
 *   partitions  uint[]   partition of each message
 *   offsets     uint[]   offset of each message (same length as partitions)
 *   delayMs     uint?    for "nack": redeliver no sooner than this
 *
 * ack: done. nack: redeliver (after delayMs). progress: restart the ack timer.
 * term: dead-letter now. Settling a message that is not in flight for this
 * subscription is ignored (it was redelivered elsewhere or already settled).
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { SkiffError } from '../errors.js'

export const ACK_KINDS = ['ack', 'nack', 'progress', 'term'] as const
export type AckKind = (typeof ACK_KINDS)[number]

export interface Ack {
  sub: number
  kind: AckKind
  partitions: number[]
  offsets: number[]
  delayMs?: number | undefined
}

export const MAX_ACKS_PER_FRAME = 100_000

export function encodeAck(a: Ack): Buffer {
  const body: Record<string, unknown> = { sub: a.sub, kind: a.kind, partitions: a.partitions, offsets: a.offsets }
  if (a.delayMs !== undefined) body.delayMs = a.delayMs
  return encodeFrame(Op.ACK, body)
}

export function decodeAck(body: Buffer): Ack {
  const f = new Fields('ACK', body)
  const a: Ack = {
    sub: f.uint('sub', 0xffffffff),
    kind: f.oneOf('kind', ACK_KINDS),
    partitions: f.uintArray('partitions', MAX_ACKS_PER_FRAME),
    offsets: f.uintArray('offsets', MAX_ACKS_PER_FRAME),
    delayMs: f.optUint('delayMs', 7 * 24 * 3600 * 1000),
  }
  if (a.partitions.length !== a.offsets.length) throw new SkiffError('INVALID_REQUEST', 'ACK.partitions and ACK.offsets differ in length')
  return a
}
