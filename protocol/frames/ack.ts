/**
 * ACK (0x23), client -> broker: settle delivered messages. No reply.
 *   sub         uint     the subscription the messages were delivered to
 *   kind        string   "ack" | "nack" | "progress" | "term"
 *   partitions  uint[]?  partition of each message
 *   offsets     uint[]?  offset of each message (same length as partitions)
 *   ranges      uint[]?  [partition, firstOffset, count] triples, laid flat:
 *                        count messages from firstOffset on (count >= 1)
 *   delayMs     uint?    for "nack": redeliver no sooner than this
 *
 * A frame carries partitions+offsets, ranges, or both (it settles the
 * messages of both); at most MAX_ACKS_PER_FRAME messages in all. `ranges`
 * came later within protocol version 1 as an optional field (PROTOCOL.md,
 * ACK): one triple settles a run of consecutive offsets, which is how a
 * consumer mostly settles, so a frame no longer grows by one entry per
 * message.
 *
 * ack: done. nack: redeliver (after delayMs). progress: restart the ack timer.
 * term: dead-letter now. Settling a message that is not in flight for this
 * subscription is ignored (it was redelivered elsewhere or already settled).
 *
 * A frame may name 100,000 offsets in a few bytes; the broker never expands
 * ranges (decodeAck is for tests and tools) and its worker's work per ACK is
 * bounded by the deliveries outstanding, not by what is named
 * (broker/worker/group-cursor.ts, visitHeld).
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { SkiffError } from '../errors.js'

export const ACK_KINDS = ['ack', 'nack', 'progress', 'term'] as const
export type AckKind = (typeof ACK_KINDS)[number]

/** An ACK as it travels: per-message arrays, ranges, or both. */
export interface Ack {
  sub: number
  kind: AckKind
  partitions?: number[] | undefined
  offsets?: number[] | undefined
  /** [partition, firstOffset, count] triples, flat. */
  ranges?: number[] | undefined
  delayMs?: number | undefined
}

/** What an ACK settles, one entry per message, whichever form it came in. */
export interface AckSettlements {
  sub: number
  kind: AckKind
  partitions: number[]
  offsets: number[]
  delayMs?: number | undefined
}

/** Messages one ACK frame may settle, per-message entries and range counts together. */
export const MAX_ACKS_PER_FRAME = 100_000

export function encodeAck(a: Ack): Buffer {
  const body: Record<string, unknown> = { sub: a.sub, kind: a.kind }
  if (a.partitions !== undefined) body.partitions = a.partitions
  if (a.offsets !== undefined) body.offsets = a.offsets
  if (a.ranges !== undefined) body.ranges = a.ranges
  if (a.delayMs !== undefined) body.delayMs = a.delayMs
  return encodeFrame(Op.ACK, body)
}

/**
 * An ACK as sent, checked: the broker expands its ranges straight into the
 * lists it hands on. Throws INVALID_REQUEST for a field of the wrong type, a
 * frame with neither form, arrays of different lengths, a malformed range or
 * more than MAX_ACKS_PER_FRAME messages.
 */
export function readAck(body: Buffer): Ack {
  const f = new Fields('ACK', body)
  const sub = f.uint('sub', 0xffffffff)
  const kind = f.oneOf('kind', ACK_KINDS)
  const ranges = f.has('ranges') ? f.uintArray('ranges', 3 * MAX_ACKS_PER_FRAME) : undefined
  // Without ranges the per-message arrays are required, as they always were.
  const perMessage = ranges === undefined || f.has('partitions') || f.has('offsets')
  const partitions = perMessage ? f.uintArray('partitions', MAX_ACKS_PER_FRAME) : undefined
  const offsets = perMessage ? f.uintArray('offsets', MAX_ACKS_PER_FRAME) : undefined
  const delayMs = f.optUint('delayMs', 7 * 24 * 3600 * 1000)
  if (partitions && offsets && partitions.length !== offsets.length) throw new SkiffError('INVALID_REQUEST', 'ACK.partitions and ACK.offsets differ in length')
  let messages = offsets?.length ?? 0
  if (ranges) {
    if (ranges.length % 3 !== 0) throw new SkiffError('INVALID_REQUEST', 'ACK.ranges must be [partition, firstOffset, count] triples')
    for (let i = 0; i < ranges.length; i += 3) {
      const count = ranges[i + 2]!
      // the last offset, first + count - 1, must stay exact: compared without adding
      if (count < 1 || count > MAX_ACKS_PER_FRAME || ranges[i + 1]! > Number.MAX_SAFE_INTEGER - (count - 1)) {
        throw new SkiffError('INVALID_REQUEST', `ACK.ranges: range ${i / 3} must count 1..${MAX_ACKS_PER_FRAME} offsets below 2^53`)
      }
      messages += count
    }
    if (messages > MAX_ACKS_PER_FRAME) throw new SkiffError('INVALID_REQUEST', `ACK settles ${messages} messages; at most ${MAX_ACKS_PER_FRAME} per frame`)
  }
  return { sub, kind, partitions, offsets, ranges, delayMs }
}

/** What an ACK settles, one entry per message: its per-message arrays, then its ranges expanded. */
export function decodeAck(body: Buffer): AckSettlements {
  const a = readAck(body)
  let partitions = a.partitions ?? []
  let offsets = a.offsets ?? []
  if (a.ranges) {
    partitions = partitions.slice()
    offsets = offsets.slice()
    const r = a.ranges
    for (let i = 0; i < r.length; i += 3) {
      for (let k = 0; k < r[i + 2]!; k++) {
        partitions.push(r[i]!)
        offsets.push(r[i + 1]! + k)
      }
    }
  }
  return { sub: a.sub, kind: a.kind, partitions, offsets, delayMs: a.delayMs }
}
