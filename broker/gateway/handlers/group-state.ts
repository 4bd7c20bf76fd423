/**
 * A consumer group's state on a topic, as GROUP_DESCRIBE answers it and as
 * GROUP_RESET and GROUP_DELETE check it first: its position on each
 * partition where it has state, and how many subscriptions it has.
 *
 * On a single broker that is all here. In a cluster each partition's group
 * state lives with the partition, on its leader (and is copied to its
 * followers): this broker answers for the partitions it leads and asks each
 * other leader for its share (cluster/leader-requests.ts), so any broker
 * describes the whole group. `members` is then the group's subscriptions on
 * all those leaders: a consumer of a cluster holds one on each broker it
 * reads from.
 */
import { SkiffError, encodeGroupDescribe } from '../../../protocol/index.js'
import type { GroupPosition, TopicConfig } from '../../thread-messages.js'
import type { HandlerConnection, HandlerContext } from '../handler-connection.js'
import { perPartition } from '../fan-out.js'
import { askLeader, perLeader } from '../../cluster/leader-requests.js'
import { partitionNumbers } from '../../routing.js'

export interface GroupState {
  members: number
  partitions: GroupPosition[]
}

/** The subscriptions that are members of `group` on `topic` on this broker now, as [connection, subscription id]. */
export function membersOf(ctx: Pick<HandlerContext, 'connections'>, topic: string, group: string): [HandlerConnection, number][] {
  const out: [HandlerConnection, number][] = []
  for (const c of ctx.connections.values()) for (const [sub, s] of c.subs) if (s.topic === topic && s.group === group && !s.ephemeral) out.push([c, sub])
  return out
}

/** The group on the partitions this broker holds (all of them on a single broker, those it leads in a cluster). */
export async function groupHere(ctx: Pick<HandlerContext, 'pool' | 'cluster' | 'connections'>, t: TopicConfig, group: string): Promise<GroupState> {
  const parts = (await perPartition(ctx, t, (partition) => ({ t: 'group', topic: t.topic, partition, group }))).filter((p) => p !== null)
  return { members: membersOf(ctx, t.topic, group).length, partitions: parts }
}

/** The group on every partition of the topic (asking the other leaders in a cluster), in partition order; no partitions when it has no state. */
export async function groupState(ctx: Pick<HandlerContext, 'pool' | 'cluster' | 'connections'>, t: TopicConfig, group: string): Promise<GroupState> {
  const node = ctx.cluster
  if (!node) return groupHere(ctx, t, group)
  const shares = await perLeader(node, t.topic, partitionNumbers(t.partitions), {
    here: () => groupHere(ctx, t, group),
    there: async (id, partitions) => {
      const share = asGroupState(await askLeader(node, id, `describing group ${group} of ${t.topic}`, (corr) => encodeGroupDescribe({ corr, topic: t.topic, group, forwarded: true })), id)
      // Only the partitions asked of it: a leader whose view is behind may still count others.
      return { members: share.members, partitions: share.partitions.filter((p) => partitions.includes(p.partition)) }
    },
  })
  const out: GroupState = { members: 0, partitions: [] }
  for (const s of shares) {
    out.members += s.members
    out.partitions.push(...s.partitions)
  }
  out.partitions.sort((a, b) => a.partition - b.partition)
  return out
}

function asGroupState(v: unknown, broker: number): GroupState {
  const o = v as Partial<GroupState> | null
  if (o && typeof o === 'object' && Number.isSafeInteger(o.members) && Array.isArray(o.partitions) && o.partitions.every((p) => Number.isSafeInteger((p as GroupPosition)?.partition))) {
    return o as GroupState
  }
  throw new SkiffError('INTERNAL', `broker ${broker} answered a group description that could not be read`)
}
