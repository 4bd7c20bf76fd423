/**
 * The panel's data (GET /api/overview): topics with their partitions' sizes
 * and end offsets, consumer groups with lag and in-flight counts per
 * partition, and the open connections. Read-only; gathered from the workers
 * with the same requests the admin calls use.
 *
 * Decision: no rates here. The page computes rates from the end offsets and
 * acked counts of two successive polls, so the broker keeps no sampling state
 * for a page that may never be opened.
 *
 * Decision: like /metrics, this is served without authentication on the
 * HTTP port (it carries topic and group names, user names and addresses, no
 * payloads and no credentials); keep that port private when that matters.
 */
import type { GatewayContext } from '../gateway/context.js'
import { ownerOf } from '../topic-store.js'
import type { TopicConfig } from '../thread-messages.js'

export interface PartitionOverview {
  partition: number
  startOffset: number
  endOffset: number
  bytes: number
}

export interface GroupPartitionOverview {
  partition: number
  lag: number
  inFlight: number
  committed: number
  members: number
}

export interface Overview {
  time: number
  topics: { topic: string; partitions: PartitionOverview[]; messages: number; bytes: number }[]
  groups: { topic: string; group: string; members: number; lag: number; inFlight: number; partitions: GroupPartitionOverview[] }[]
  connections: { id: number; name: string; user: string | undefined; address: string; subscriptions: number; serves: number }[]
}

type PoolRequest = Parameters<GatewayContext['pool']['request']>[1]

function perPartition<T>(ctx: GatewayContext, t: TopicConfig, req: (partition: number) => PoolRequest): Promise<T[]> {
  const waits: Promise<unknown>[] = []
  for (let p = 0; p < t.partitions; p++) waits.push(ctx.pool.request(ownerOf(t.topic, p, ctx.pool.size), req(p)))
  return Promise.all(waits) as Promise<T[]>
}

export async function buildOverview(ctx: GatewayContext): Promise<Overview> {
  const topics: Overview['topics'] = []
  const groups: Overview['groups'] = []
  for (const t of ctx.topics.list()) {
    const parts = await perPartition<PartitionOverview>(ctx, t, (partition) => ({ t: 'describe', topic: t.topic, partition }))
    const partitions = parts.map((p) => ({ partition: p.partition, startOffset: p.startOffset, endOffset: p.endOffset, bytes: p.bytes }))
    topics.push({
      topic: t.topic,
      partitions,
      messages: partitions.reduce((a, p) => a + (p.endOffset - p.startOffset), 0),
      bytes: partitions.reduce((a, p) => a + p.bytes, 0),
    })
    const names = new Set<string>()
    for (const list of await perPartition<string[]>(ctx, t, (partition) => ({ t: 'groups', topic: t.topic, partition }))) for (const g of list) names.add(g)
    for (const group of [...names].sort()) {
      const described = await perPartition<GroupPartitionOverview | null>(ctx, t, (partition) => ({ t: 'group', topic: t.topic, partition, group }))
      const gp = described.filter((p): p is GroupPartitionOverview => p !== null).map((p) => ({ partition: p.partition, lag: p.lag, inFlight: p.inFlight, committed: p.committed, members: p.members }))
      let members = 0
      for (const c of ctx.connections.values()) for (const s of c.subs.values()) if (s.topic === t.topic && s.group === group) members++
      groups.push({ topic: t.topic, group, members, lag: gp.reduce((a, p) => a + p.lag, 0), inFlight: gp.reduce((a, p) => a + p.inFlight, 0), partitions: gp })
    }
  }
  const connections = [...ctx.connections.values()].map((c) => ({
    id: c.id,
    name: c.clientName,
    user: c.user?.user,
    address: `${c.socket.remoteAddress ?? '?'}:${c.socket.remotePort ?? '?'}`,
    subscriptions: c.subs.size,
    serves: c.served.size,
  }))
  return { time: Date.now(), topics, groups, connections }
}
