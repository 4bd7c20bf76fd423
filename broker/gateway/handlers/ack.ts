/**
 * ACK: settle delivered messages. Offsets are grouped by partition and sent to
 * each owner in one op; an ACK's ranges are expanded here into the same
 * per-partition offset lists (readAck bounds them to MAX_ACKS_PER_FRAME
 * messages, so the lists stay as large as a per-message ACK's could be).
 * Acks for a subscription this connection no longer has are ignored: its
 * messages were already released for redelivery. So are partitions the topic
 * does not have.
 */
import { readAck } from '../../../protocol/index.js'
import type { Connection } from '../connection.js'
import { ownerOf } from '../../topic-store.js'

export function onAck(conn: Connection, body: Buffer): void {
  const a = readAck(body)
  const sub = conn.subs.get(a.sub)
  if (!sub) return
  const byPartition = new Map<number, number[]>()
  const listFor = (p: number): number[] => {
    let list = byPartition.get(p)
    if (!list) byPartition.set(p, (list = []))
    return list
  }
  const { partitions, offsets, ranges } = a
  if (partitions && offsets) {
    for (let i = 0; i < offsets.length; i++) {
      const p = partitions[i]!
      if (p < sub.partitions) listFor(p).push(offsets[i]!)
    }
  }
  if (ranges) {
    for (let i = 0; i < ranges.length; i += 3) {
      const p = ranges[i]!
      if (p >= sub.partitions) continue
      const list = listFor(p)
      const first = ranges[i + 1]!
      const end = first + ranges[i + 2]!
      for (let o = first; o < end; o++) list.push(o)
    }
  }
  const { pool } = conn.ctx
  for (const [partition, offsets] of byPartition) {
    pool.send(ownerOf(sub.topic, partition, pool.size), {
      t: 'settle',
      conn: conn.id,
      sub: a.sub,
      topic: sub.topic,
      partition,
      group: sub.group,
      kind: a.kind,
      offsets,
      delayMs: a.delayMs ?? 0,
    })
  }
}
