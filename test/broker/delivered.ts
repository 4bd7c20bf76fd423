/**
 * What a worker delivered, read out of the `out` ops it posted as the
 * gateway would write them to sockets: every DELIVER frame's messages, in
 * order (the in-process worker harnesses share it).
 */
import type { FromWorker } from '../../broker/thread-messages.js'
import { decodeDeliver, decodeRecord, Op } from '../../protocol/index.js'

export interface Delivered {
  sub: number
  offset: number
  count: number
  payload: string
}

export function delivered(ops: readonly FromWorker[]): Delivered[] {
  const out: Delivered[] = []
  for (const op of ops) {
    if (op.t !== 'out') continue
    const bytes = Buffer.from(op.bytes)
    for (let pos = 0; pos < bytes.length; ) {
      const len = bytes.readUInt32BE(pos)
      if (bytes[pos + 4] === Op.DELIVER) {
        const d = decodeDeliver(bytes.subarray(pos + 5, pos + 4 + len))
        for (const [, offset, , count, record] of d.messages) out.push({ sub: d.sub, offset, count, payload: decodeRecord(record).payload.toString() })
      }
      pos += 4 + len
    }
  }
  return out
}
