/**
 * Admin requests: topics (create, describe, list, delete) and groups (list,
 * describe). Facts about partitions come from their owning workers; the
 * gateway gathers them and answers OK { result }.
 * Creating and deleting need admin; describing needs admin, monitor, or a
 * publish or subscribe permission on the topic; lists show only what the user
 * may see.
 */
import {
  SkiffError,
  decodeCorrOnly,
  decodeGroupDescribe,
  decodeGroupList,
  decodeTopicCreate,
  decodeTopicRef,
  encodeGroupList,
  encodeOk,
  encodeTopicRef,
  Op,
  checkName,
  type PartitionPlacement,
} from '../../../protocol/index.js'
import type { HandlerConnection, HandlerContext } from '../handler-connection.js'
import type { PartitionDescription, TopicConfig } from '../../thread-messages.js'
import type { ClusterNode } from '../../cluster/cluster-node.js'
import { perPartition } from '../fan-out.js'
import { checkPartitionLimit, mayAccess, requireAccess } from '../../auth/guard.js'
import type { Operation } from '../../auth/authenticator.js'
import { groupHere, groupState } from './group-state.js'
import { requireBroker } from './request.js'
import { askLeader, leadersOf, perLeader } from '../../cluster/leader-requests.js'
import { partitionNumbers } from '../../routing.js'

/** The topic, once the name is valid and the user may `op` it (checked before existence, so a refusal reveals nothing). */
export function known(conn: HandlerConnection, topic: string, op: Operation): TopicConfig {
  checkName('topic', topic)
  requireAccess(conn, op, topic)
  const t = conn.ctx.topics.get(topic)
  if (!t) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist`, { details: { topic } })
  return t
}

/**
 * A topic's settings and its partitions' facts. A single broker keeps one
 * copy of each partition (1/1). In a cluster the settings come from the
 * cluster's topic key, `placement` says where every partition lives:
 * leader, replicas and in-sync replicas, as METADATA does, and
 * `partitionInfo` covers the partitions this broker leads, and with
 * `everyLeader` (TOPIC_DESCRIBE) those of every other leader, asked for
 * their share. A leader that cannot be asked, or a partition without a live
 * leader, leaves its partitions out of `partitionInfo` rather than failing
 * the description (their placement says why).
 */
export async function describe(ctx: Pick<HandlerContext, 'pool' | 'cluster'>, t: TopicConfig, everyLeader = false) {
  const cluster = ctx.cluster
  const partitionInfo = cluster && everyLeader ? await describedByLeaders(ctx, cluster, t) : await partitionFacts(ctx, t)
  partitionInfo.sort((a, b) => a.partition - b.partition)
  if (!cluster) return { ...t, replicationFactor: 1, minInSync: 1, partitionInfo }
  const record = cluster.view.topics.get(t.topic)
  const placement: PartitionPlacement[] = []
  for (let partition = 0; partition < t.partitions; partition++) {
    const p = cluster.view.partition(t.topic, partition)
    if (p) placement.push({ partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr.map((m) => m.id), ...(p.target && { movingTo: p.target }) })
  }
  return { ...t, ...(record && { replicationFactor: record.replicationFactor, minInSync: record.minInSync }), partitionInfo, placement }
}

export async function onTopicCreate(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeTopicCreate(body)
  checkName('topic', req.topic)
  requireAccess(conn, 'admin', req.topic)
  checkPartitionLimit(conn, req.partitions)
  const t = await conn.ctx.topics.create(req) // maxTopics is checked and reserved there
  conn.ctx.logger.info({ topic: t.topic, partitions: t.partitions }, 'topic created')
  conn.send(encodeOk(req.corr, await describe(conn.ctx, t)))
}

/** The facts of every partition of `t`, each from its leader (this broker's own, and each other leader asked for its share). */
async function describedByLeaders(ctx: Pick<HandlerContext, 'pool' | 'cluster'>, node: ClusterNode, t: TopicConfig): Promise<PartitionDescription[]> {
  const shares = await perLeader(
    node,
    t.topic,
    partitionNumbers(t.partitions),
    {
      here: () => partitionFacts(ctx, t),
      there: async (id, asked) => {
        try {
          const result = (await askLeader(node, id, `describing topic ${t.topic}`, (corr) => encodeTopicRef(Op.TOPIC_DESCRIBE, { corr, topic: t.topic, forwarded: true }))) as { partitionInfo?: unknown }
          const list = Array.isArray(result?.partitionInfo) ? (result.partitionInfo as PartitionDescription[]) : []
          return list.filter((p) => asked.includes(p?.partition))
        } catch {
          return []
        }
      },
    },
    true,
  )
  return shares.flat()
}

/** The facts of the partitions of `t` this broker holds (all on a single broker, those it leads in a cluster). */
function partitionFacts(ctx: Pick<HandlerContext, 'pool' | 'cluster'>, t: TopicConfig): Promise<PartitionDescription[]> {
  return perPartition(ctx, t, (partition) => ({ t: 'describe', topic: t.topic, partition }))
}

export async function onTopicDescribe(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeTopicRef('TOPIC_DESCRIBE', body)
  if (req.forwarded) {
    // Another broker of the cluster describes the topic: the facts of the partitions this one leads.
    const t = forwardedTopic(conn, req.topic)
    conn.send(encodeOk(req.corr, { partitionInfo: await partitionFacts(conn.ctx, t) }))
    return
  }
  conn.send(encodeOk(req.corr, await describe(conn.ctx, known(conn, req.topic, 'describe'), true)))
}

export function onTopicList(conn: HandlerConnection, body: Buffer): void {
  const { corr } = decodeCorrOnly('TOPIC_LIST', body)
  // In a cluster, the cluster's topics: not a copy this broker still holds of one deleted while it was away.
  const view = conn.ctx.cluster?.view
  const topics = conn.ctx.topics.list().filter((t) => (!view || view.topics.has(t.topic)) && mayAccess(conn, 'describe', t.topic))
  conn.send(encodeOk(corr, topics.map((t) => ({ topic: t.topic, partitions: t.partitions }))))
}

/**
 * Deleting a topic deletes its dead-letter chain too: they share partitions' owners and lifetimes.
 * In a cluster the topic's keys go from etcd in one transaction, and every broker removes its
 * copies as its watch sees that (cluster-topics.ts); the answer waits for this broker's.
 */
export async function onTopicDelete(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeTopicRef('TOPIC_DELETE', body)
  const { ctx } = conn
  known(conn, req.topic, 'admin')
  if (ctx.cluster) {
    await ctx.cluster.deleteTopic(req.topic)
    conn.send(encodeOk(req.corr, { topic: req.topic }))
    return
  }
  for (const t of ctx.topics.chain(req.topic).reverse()) {
    await perPartition(ctx, t, (partition) => ({ t: 'drop', topic: t.topic, partition }))
    await ctx.topics.remove(t.topic)
    endSubscriptions(ctx, t.topic)
    ctx.logger.info({ topic: t.topic }, 'topic deleted')
  }
  conn.send(encodeOk(req.corr, { topic: req.topic }))
}

/**
 * Every subscription to a deleted topic ends, and its connection is told so:
 * an ERROR without corr, UNKNOWN_TOPIC, naming the subscription in `details.sub`
 * (the client ends that consumer with the error). A topic created again under
 * the same name is a new topic: old subscriptions do not come back to it.
 */
export function endSubscriptions(ctx: HandlerContext, topic: string): void {
  for (const c of ctx.connections.values()) {
    for (const [sub, s] of c.subs) {
      if (s.topic !== topic) continue
      c.subs.delete(sub)
      c.error(new SkiffError('UNKNOWN_TOPIC', `topic ${topic} was deleted: subscription ${sub} ended`, { details: { sub, topic } }))
    }
  }
}

export async function onGroupList(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeGroupList(body)
  const { ctx } = conn
  if (req.forwarded) {
    // Another broker of the cluster lists the groups everywhere: these are of the partitions this one leads.
    if (req.topic === undefined) requireBroker(conn, 'send forwarded admin requests')
    const topics = req.topic === undefined ? ctx.topics.list() : [forwardedTopic(conn, req.topic)]
    conn.send(encodeOk(req.corr, await groupsHere(ctx, topics)))
    return
  }
  const topics = req.topic === undefined ? ctx.topics.list().filter((t) => mayAccess(conn, 'describe', t.topic)) : [known(conn, req.topic, 'describe')]
  conn.send(encodeOk(req.corr, await listGroups(ctx, topics, req.topic !== undefined)))
}

/**
 * The groups with state on `topics`, sorted by topic then group: of every partition, also in a
 * cluster, where each other leader of the topic's partitions is asked (every live broker when
 * the list is of every topic, `one` false).
 */
export async function listGroups(ctx: HandlerContext, topics: readonly TopicConfig[], one: boolean): Promise<{ topic: string; group: string }[]> {
  const found = await groupsHere(ctx, topics)
  const node = ctx.cluster
  if (node) {
    const topic = one ? topics[0]!.topic : undefined
    const peers = topic === undefined ? [...node.view.brokers.keys()] : [...leadersOf(node, topic, partitionNumbers(topics[0]!.partitions)).keys()]
    const asked = await Promise.all(
      peers
        .filter((id) => id !== node.brokerId)
        .map(async (id) => asGroupList(await askLeader(node, id, 'listing groups', (corr) => encodeGroupList({ corr, topic, forwarded: true })), id)),
    )
    for (const list of asked) found.push(...list)
  }
  const byTopic = new Map<string, Set<string>>(topics.map((t) => [t.topic, new Set()]))
  for (const { topic, group } of found) byTopic.get(topic)?.add(group)
  const out: { topic: string; group: string }[] = []
  for (const [topic, groups] of byTopic) for (const group of [...groups].sort()) out.push({ topic, group })
  return out
}

/** The groups with state on the partitions of `topics` this broker holds (all on a single broker, those it leads in a cluster). */
async function groupsHere(ctx: HandlerContext, topics: readonly TopicConfig[]): Promise<{ topic: string; group: string }[]> {
  const out: { topic: string; group: string }[] = []
  for (const t of topics) {
    const names = new Set<string>()
    for (const list of await perPartition(ctx, t, (partition) => ({ t: 'groups', topic: t.topic, partition }))) for (const g of list) names.add(g)
    for (const group of names) out.push({ topic: t.topic, group })
  }
  return out
}

function asGroupList(v: unknown, broker: number): { topic: string; group: string }[] {
  if (Array.isArray(v) && v.every((e) => typeof e?.topic === 'string' && typeof e?.group === 'string')) return v as { topic: string; group: string }[]
  throw new SkiffError('INTERNAL', `broker ${broker} answered a group list that could not be read`)
}

export async function onGroupDescribe(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeGroupDescribe(body)
  const { ctx } = conn
  checkName('group', req.group)
  if (req.forwarded) {
    // Another broker of the cluster asks for the partitions this one leads (group-state.ts).
    conn.send(encodeOk(req.corr, await groupHere(ctx, forwardedTopic(conn, req.topic), req.group)))
    return
  }
  const t = known(conn, req.topic, 'describe')
  const state = await groupState(ctx, t, req.group)
  if (state.partitions.length === 0) throw new SkiffError('UNKNOWN_GROUP', `group ${req.group} has no state on topic ${req.topic}`)
  conn.send(encodeOk(req.corr, { topic: req.topic, group: req.group, members: state.members, partitions: state.partitions }))
}

/**
 * The topic of an admin request another broker forwarded: that broker
 * checked the requester's permission, and only a broker of the cluster may
 * vouch for it (as for a forwarded REQUEST).
 */
export function forwardedTopic(conn: HandlerConnection, topic: string): TopicConfig {
  requireBroker(conn, 'send forwarded admin requests')
  checkName('topic', topic)
  const t = conn.ctx.topics.get(topic)
  if (!t) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist`, { details: { topic } })
  return t
}
