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
 * The broker picks each record's partition: the key's FNV-1a hash modulo the
 * partition count; records without a key all go to one partition, round-robin
 * per batch, or (producerId + sequence) modulo the count for an idempotent batch.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'

export interface Publish {
  corr: number
  topic: string
  count: number
  records: Buffer
  confirm: boolean
  producerId?: number | undefined
  sequence?: number | undefined
}

export function encodePublish(p: Publish): Buffer {
  const body: Record<string, unknown> = { corr: p.corr, topic: p.topic, count: p.count, records: p.records }
  if (!p.confirm) body.confirm = false
  if (p.producerId !== undefined) body.producerId = p.producerId
  if (p.sequence !== undefined) body.sequence = p.sequence
  return encodeFrame(Op.PUBLISH, body)
}

export function decodePublish(body: Buffer): Publish {
  const f = new Fields('PUBLISH', body)
  return {
    corr: f.uint('corr'),
    topic: f.str('topic', 249),
    count: f.uint('count', 1_000_000),
    records: f.bin('records'),
    confirm: f.bool('confirm', true),
    producerId: f.optUint('producerId', 2 ** 48 - 1),
    sequence: f.optUint('sequence', 0xfffffffe),
  }
}
