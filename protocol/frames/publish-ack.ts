/**
 * PUBLISH_ACK (0x11), broker -> client: every record of a PUBLISH is durable.
 *   corr       uint            the PUBLISH answered
 *   partition  uint | uint[]   one partition for all records, or one per record
 *   offset     uint | uint[]   base offset of a contiguous run (record i has offset + i),
 *                              or one offset per record
 * Compact form (both scalars) when all records went to one partition.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { MAX_PUBLISH_RECORDS } from './limits.js'
import { SkiffError } from '../errors.js'

export interface PublishAck {
  corr: number
  partition: number | number[]
  offset: number | number[]
}

export function encodePublishAck(a: PublishAck): Buffer {
  return encodeFrame(Op.PUBLISH_ACK, a)
}

export function decodePublishAck(body: Buffer): PublishAck {
  const f = new Fields('PUBLISH_ACK', body)
  return { corr: f.uint('corr'), partition: f.uintOrArray('partition', MAX_PUBLISH_RECORDS), offset: f.uintOrArray('offset', MAX_PUBLISH_RECORDS) }
}

/** Expand an ack into `{ partition, offset }` per record, checking it covers `count`. */
export function expandPublishAck(a: PublishAck, count: number): { partition: number; offset: number }[] {
  const out: { partition: number; offset: number }[] = []
  for (let i = 0; i < count; i++) {
    const partition = typeof a.partition === 'number' ? a.partition : a.partition[i]
    const offset = typeof a.offset === 'number' ? a.offset + i : a.offset[i]
    if (partition === undefined || offset === undefined) {
      throw new SkiffError('BAD_FRAME', `PUBLISH_ACK ${a.corr} covers fewer than ${count} records`)
    }
    out.push({ partition, offset })
  }
  return out
}
