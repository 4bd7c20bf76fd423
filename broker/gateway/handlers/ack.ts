/**
 * ACK: settle delivered messages. Offsets are grouped by partition and sent to
 * each owner in one op. Acks for a subscription this connection no longer has
 * are ignored: its messages were already released for redelivery.
 */
import { decodeAck } from '../../../protocol/index.js'
import type { Connection } from '../connection.js'
import { ownerOf } from '../../topic-store.js'

export function onAck(conn: Connection, body: Buffer): void {
  const a = decodeAck(body)
  const sub = conn.subs.get(a.sub)
  if (!sub) return
  const byPartition = new Map<number, number[]>()
  for (let i = 0; i < a.offsets.length; i++) {
    const p = a.partitions[i]!
    if (p >= sub.partitions) continue
    let list = byPartition.get(p)
    if (!list) byPartition.set(p, (list = []))
    list.push(a.offsets[i]!)
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
