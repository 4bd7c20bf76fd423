/**
 * ACK: settle delivered messages. The settlements go to each partition's
 * owner in one op as [firstOffset, count] ranges: an ACK's ranges as they
 * came (readAck bounds them to MAX_ACKS_PER_FRAME messages), per-message
 * entries merged where they follow each other, so the thread hop carries two
 * numbers per run, not one per message. Acks for a subscription this
 * connection no longer has are ignored: its messages were already released
 * for redelivery. So are partitions the topic does not have.
 */
import { readAck } from '../../../protocol/index.js'
import type { HandlerConnection } from '../handler-connection.js'
import { ownerOf } from '../../routing.js'

export function onAck(conn: HandlerConnection, body: Buffer): void {
  const a = readAck(body)
  const sub = conn.subs.get(a.sub)
  if (!sub) return
  const byPartition = new Map<number, number[]>()
  const add = (p: number, first: number, count: number): void => {
    if (p >= sub.partitions || (sub.only !== undefined && !sub.only.has(p))) return
    let list = byPartition.get(p)
    if (!list) byPartition.set(p, (list = []))
    const n = list.length
    if (n > 0 && list[n - 2]! + list[n - 1]! === first) list[n - 1]! += count
    else list.push(first, count)
  }
  const { partitions, offsets, ranges } = a
  if (partitions && offsets) for (let i = 0; i < offsets.length; i++) add(partitions[i]!, offsets[i]!, 1)
  if (ranges) for (let i = 0; i < ranges.length; i += 3) add(ranges[i]!, ranges[i + 1]!, ranges[i + 2]!)
  const { pool } = conn.ctx
  for (const [partition, list] of byPartition) {
    pool.send(ownerOf(sub.topic, partition, pool.size), {
      t: 'settle',
      conn: conn.id,
      sub: a.sub,
      topic: sub.topic,
      partition,
      group: sub.group,
      kind: a.kind,
      ranges: list,
      delayMs: a.delayMs ?? 0,
    })
  }
}
