/**
 * Partitions this broker led are led elsewhere now (a move handed them over,
 * an election while it was cut off from etcd or paused, a SIGTERM): every
 * subscription here that covers one of them is told at once, by an ERROR
 * without corr, NOT_LEADER, naming the subscription (`details.sub`), the
 * topic and the partitions (`details.partitions`).
 *
 * Why: a consumer's connection to the old leader often stays up (only the
 * leadership moved), and deliveries are pushed, so nothing else tells the
 * client. It learned of the move at its periodic metadata refresh, up to
 * 10 s later, and got nothing of those partitions until then. Kafka's
 * consumers learn it on their next fetch (NOT_LEADER_OR_FOLLOWER); this is
 * the push equivalent.
 *
 * Decisions written down here:
 * - The subscription is not ended: it stays registered (its other
 *   partitions are still led here, and if leadership comes back before the
 *   client moves, it is served again). The client refreshes its metadata
 *   and subscribes where the partitions are led now (cluster-consumer.ts).
 * - One notice per subscription per change of roles, whatever the number of
 *   partitions: a broker losing its lease loses them all at once.
 * - Written as it is, not through HandlerConnection.error: it is news, not
 *   a protocol error, and must not count as one in the metrics. A client
 *   that predates it sees it as a client 'error' event, if it listens.
 */
import { SkiffError, encodeError } from '../../protocol/index.js'
import type { HandlerContext } from './handler-connection.js'

export interface LostLeadership {
  topic: string
  partition: number
}

export function tellLeadershipLost(ctx: Pick<HandlerContext, 'connections'>, self: number, lost: readonly LostLeadership[]): void {
  if (lost.length === 0) return
  const byTopic = new Map<string, Set<number>>()
  for (const { topic, partition } of lost) {
    let set = byTopic.get(topic)
    if (!set) byTopic.set(topic, (set = new Set()))
    set.add(partition)
  }
  for (const c of ctx.connections.values()) {
    if (c.closed) continue
    for (const [sub, s] of c.subs) {
      const gone = byTopic.get(s.topic)
      if (!gone) continue
      const partitions = [...gone].filter((p) => p < s.partitions && (!s.only || s.only.has(p))).sort((a, b) => a - b)
      if (partitions.length === 0) continue
      const err = new SkiffError('NOT_LEADER', `broker ${self} no longer leads ${s.topic} partition ${partitions.join(', ')}: subscription ${sub} gets nothing more of it here; refresh metadata and subscribe at the new leader`, {
        details: { sub, topic: s.topic, partitions },
      })
      c.send(encodeError(err))
    }
  }
}
