/**
 * Changing groups and topics after their creation: GROUP_DELETE,
 * GROUP_RESET, TOPIC_PURGE, TOPIC_ALTER (protocol/frames/manage.ts). Each
 * needs the admin permission on the topic, like TOPIC_CREATE and
 * TOPIC_DELETE: they destroy or rewind what other users' consumers rely on,
 * which a subscribe permission does not cover (in Kafka, resetting a group's
 * offsets likewise needs more than reading the topic).
 *
 * A group with subscribed members is not deleted or reset unless the request
 * says `force` (GROUP_IN_USE): the change would pull the position from under
 * a running consumer, which is what Kafka's tools refuse for an active group.
 */
import {
  SkiffError,
  checkName,
  decodeGroupDelete,
  decodeGroupReset,
  decodeTopicAlter,
  decodeTopicPurge,
  encodeOk,
  isDeadLetterTopic,
} from '../../../protocol/index.js'
import type { HandlerConnection, HandlerContext } from '../handler-connection.js'
import type { TopicConfig } from '../../thread-messages.js'
import { ownerOf } from '../../routing.js'
import { checkPartitionLimit } from '../../auth/guard.js'
import { describe, known } from './admin.js'
import { perPartition } from '../fan-out.js'

/** The subscriptions that are members of `group` on `topic` now, as [connection, subscription id]. */
function membersOf(ctx: HandlerContext, topic: string, group: string): [HandlerConnection, number][] {
  const out: [HandlerConnection, number][] = []
  for (const c of ctx.connections.values()) for (const [sub, s] of c.subs) if (s.topic === topic && s.group === group && !s.ephemeral) out.push([c, sub])
  return out
}

function refuseInUse(topic: string, group: string, members: number, what: string): SkiffError {
  return new SkiffError('GROUP_IN_USE', `group ${group} of topic ${topic} has ${members} subscribed member${members === 1 ? '' : 's'}: stop ${members === 1 ? 'it' : 'them'} first, or ${what} with force`, {
    details: { topic, group, members },
  })
}

/** UNKNOWN_GROUP unless some partition of the topic has state for the group. */
async function requireGroup(ctx: HandlerContext, t: TopicConfig, group: string): Promise<void> {
  const parts = await perPartition(ctx, t, (partition) => ({ t: 'group', topic: t.topic, partition, group }))
  if (parts.every((p) => p === null)) throw new SkiffError('UNKNOWN_GROUP', `group ${group} has no state on topic ${t.topic}`, { details: { topic: t.topic, group } })
}

export async function onGroupDelete(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeGroupDelete(body)
  const t = known(conn, req.topic, 'admin')
  conn.send(encodeOk(req.corr, await deleteGroupOf(conn.ctx, t, req.group, req.force === true)))
}

/** Delete `group` of topic `t` on every partition (the caller checked access): GROUP_DELETE, also the panel's action. */
export async function deleteGroupOf(ctx: HandlerContext, t: TopicConfig, group: string, force: boolean) {
  const req = { group, force }
  checkName('group', req.group)
  const members = membersOf(ctx, t.topic, req.group)
  if (members.length > 0 && !req.force) throw refuseInUse(t.topic, req.group, members.length, 'delete it')
  // Forced: the members' subscriptions end first, told so the way a deleted topic tells them
  // (an ERROR without corr naming the subscription), so no delivery of the old group is routed after.
  for (const [c, sub] of members) {
    c.subs.delete(sub)
    c.error(new SkiffError('UNKNOWN_GROUP', `group ${req.group} of topic ${t.topic} was deleted: subscription ${sub} ended`, { details: { sub, topic: t.topic, group: req.group } }))
  }
  const had = await perPartition(ctx, t, (partition) => ({ t: 'groupDelete', topic: t.topic, partition, group: req.group }))
  const partitions = had.filter((x) => x === true).length
  if (partitions === 0 && members.length === 0) throw new SkiffError('UNKNOWN_GROUP', `group ${req.group} has no state on topic ${t.topic}`, { details: { topic: t.topic, group: req.group } })
  ctx.logger.info({ topic: t.topic, group: req.group, partitions, endedSubscriptions: members.length }, 'group deleted')
  return { topic: t.topic, group: req.group, partitions, endedSubscriptions: members.length }
}

export async function onGroupReset(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeGroupReset(body)
  const t = known(conn, req.topic, 'admin')
  conn.send(encodeOk(req.corr, await resetGroupOf(conn.ctx, t, req)))
}

/** Move `req.group` of topic `t` (the caller checked access): GROUP_RESET, also the panel's action. */
export async function resetGroupOf(ctx: HandlerContext, t: TopicConfig, req: Omit<ReturnType<typeof decodeGroupReset>, 'corr' | 'topic'>) {
  checkName('group', req.group)
  if (req.partition !== undefined && req.partition >= t.partitions) {
    throw new SkiffError('INVALID_REQUEST', `topic ${t.topic} has no partition ${req.partition} (it has ${t.partitions})`, { details: { topic: t.topic, partitions: t.partitions } })
  }
  const dryRun = req.dryRun === true
  // A dry run changes nothing, so it may look at a group in use.
  const members = membersOf(ctx, t.topic, req.group).length
  if (members > 0 && !req.force && !dryRun) throw refuseInUse(t.topic, req.group, members, 'reset it')
  await requireGroup(ctx, t, req.group)
  const targets = req.partition === undefined ? Array.from({ length: t.partitions }, (_, p) => p) : [req.partition]
  const partitions = await Promise.all(
    targets.map((partition) =>
      ctx.pool.request(ownerOf(t.topic, partition, ctx.pool.size), { t: 'groupReset', topic: t.topic, partition, group: req.group, to: req.to, value: req.value, dryRun }),
    ),
  )
  if (!dryRun) ctx.logger.info({ topic: t.topic, group: req.group, to: req.to, value: req.value, partitions }, 'group reset')
  return { topic: t.topic, group: req.group, dryRun, partitions }
}

/**
 * Every record of every partition goes; offsets go on from the old end. The
 * topic's dead-letter topic is not purged with it: its dead letters are
 * evidence of their own (purge `<topic>.dlq` by name to drop them).
 */
export async function onTopicPurge(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeTopicPurge(body)
  const t = known(conn, req.topic, 'admin')
  conn.send(encodeOk(req.corr, await purgeTopicOf(conn.ctx, t)))
}

/** Drop every record of topic `t` (the caller checked access): TOPIC_PURGE, also the panel's action. */
export async function purgeTopicOf(ctx: HandlerContext, t: TopicConfig) {
  const partitions = await perPartition(ctx, t, (partition) => ({ t: 'purge', topic: t.topic, partition }))
  ctx.logger.info({ topic: t.topic, partitions }, 'topic purged')
  return { topic: t.topic, partitions }
}

/** One TOPIC_ALTER per topic at a time (each reads the config the previous one wrote). */
const altering = new Map<string, Promise<unknown>>()

export async function onTopicAlter(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeTopicAlter(body)
  const t = known(conn, req.topic, 'admin')
  if (req.retentionMs === undefined && req.retentionBytes === undefined && req.partitions === undefined) {
    throw new SkiffError('INVALID_REQUEST', 'TOPIC_ALTER names nothing to change: give retentionMs, retentionBytes or partitions')
  }
  if (req.partitions !== undefined) checkPartitionLimit(conn, req.partitions)
  const previous = altering.get(t.topic) ?? Promise.resolve()
  const run = previous.catch(() => {}).then(() => alter(conn.ctx, t.topic, req))
  altering.set(t.topic, run)
  try {
    await run
  } finally {
    if (altering.get(t.topic) === run) altering.delete(t.topic)
  }
  conn.send(encodeOk(req.corr, await describe(conn.ctx, conn.ctx.topics.get(t.topic)!)))
}

/**
 * Decisions:
 * - Partitions are only added: removing one would drop its messages and move
 *   keys to other partitions (Kafka refuses it too). Keys hash over the new
 *   count from now on, so a key's new messages may land in another partition
 *   than its old ones: ordering per key holds only within each era.
 * - A dead-letter topic's partitions go with its origin's (a record's dead
 *   letter goes to the partition of the same number, written by the same
 *   thread: routing.ts ownerOf), so adding partitions to a topic adds them
 *   to its whole `.dlq` chain, and a `.dlq` topic's own count cannot be altered.
 *   Retention is the named topic's only.
 * - Every group of the topic starts on a new partition at its beginning, so
 *   nothing published there is skipped; subscriptions open now join the new
 *   partitions at once (their subscribe options are kept for that), so no
 *   consumer has to subscribe again.
 */
async function alter(ctx: HandlerContext, topic: string, req: ReturnType<typeof decodeTopicAlter>): Promise<void> {
  const t = ctx.topics.get(topic)
  if (!t) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist`, { details: { topic } })
  const partitions = req.partitions ?? t.partitions
  if (partitions < t.partitions) {
    throw new SkiffError('INVALID_REQUEST', `topic ${topic} has ${t.partitions} partitions: partitions can only be added, not removed (asked for ${partitions})`, {
      details: { topic, partitions: t.partitions, requested: partitions },
    })
  }
  if (partitions !== t.partitions && isDeadLetterTopic(topic)) {
    throw new SkiffError('INVALID_REQUEST', `${topic} is a dead-letter topic: its partitions follow its origin's; add partitions to the origin topic instead`)
  }
  const chain = partitions === t.partitions ? [t] : ctx.topics.chain(topic)
  for (const old of chain) {
    const next: TopicConfig = { ...old, partitions }
    if (old.topic === topic) {
      if (req.retentionMs !== undefined) next.retentionMs = req.retentionMs
      if (req.retentionBytes !== undefined) next.retentionBytes = req.retentionBytes
    }
    const groups = next.partitions > old.partitions ? await groupsOf(ctx, old) : []
    await ctx.topics.alter(next, async () => {
      await perPartition(ctx, next, (partition) => ({ t: 'alter', config: next, partition, groups }))
    })
    await joinNewPartitions(ctx, old.topic, next.partitions)
    ctx.logger.info({ topic: next.topic, partitions: next.partitions, retentionMs: next.retentionMs, retentionBytes: next.retentionBytes }, 'topic altered')
  }
}

async function groupsOf(ctx: HandlerContext, t: TopicConfig): Promise<string[]> {
  const names = new Set<string>()
  for (const list of await perPartition(ctx, t, (partition) => ({ t: 'groups', topic: t.topic, partition }))) for (const g of list) names.add(g)
  return [...names]
}

/** Subscriptions to `topic` take the partitions it gained, from their beginning. */
async function joinNewPartitions(ctx: HandlerContext, topic: string, partitions: number): Promise<void> {
  const waits: Promise<unknown>[] = []
  for (const c of ctx.connections.values()) {
    for (const s of c.subs.values()) {
      // A subscription to chosen partitions keeps to them.
      if (s.topic !== topic || !s.spec || s.only || s.partitions >= partitions) continue
      for (let p = s.partitions; p < partitions; p++) {
        waits.push(ctx.pool.request(ownerOf(topic, p, ctx.pool.size), { t: 'sub', ...s.spec, start: 'earliest', startValue: undefined, partition: p }))
      }
      s.partitions = partitions
    }
  }
  await Promise.all(waits)
}
