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
  encodeGroupDelete,
  encodeGroupReset,
  encodeOk,
  encodeTopicPurge,
  isDeadLetterTopic,
} from '../../../protocol/index.js'
import type { HandlerConnection, HandlerContext } from '../handler-connection.js'
import type { TopicConfig } from '../../thread-messages.js'
import { ownerOf, partitionNumbers } from '../../routing.js'
import { checkPartitionLimit } from '../../auth/guard.js'
import { describe, forwardedTopic, known, listGroups } from './admin.js'
import { addPartitionsInCluster } from './cluster-partitions.js'
import { moveLedHere, movePartitionsInCluster } from './cluster-moves.js'
import { perPartition } from '../fan-out.js'
import { groupState, membersOf } from './group-state.js'
import { creditShare } from './subscribe.js'
import { askLeader, perLeader } from '../../cluster/leader-requests.js'
import type { ResetOutcome } from '../../worker/partition-admin.js'

function refuseInUse(topic: string, group: string, members: number, what: string): SkiffError {
  return new SkiffError('GROUP_IN_USE', `group ${group} of topic ${topic} has ${members} subscribed member${members === 1 ? '' : 's'}: stop ${members === 1 ? 'it' : 'them'} first, or ${what} with force`, {
    details: { topic, group, members },
  })
}

export async function onGroupDelete(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeGroupDelete(body)
  if (req.forwarded) {
    // Another broker of the cluster deletes the group everywhere: this one does its share.
    checkName('group', req.group)
    const t = forwardedTopic(conn, req.topic)
    conn.send(encodeOk(req.corr, { topic: t.topic, group: req.group, ...(await deleteHere(conn.ctx, t, req.group, req.force === true)) }))
    return
  }
  const t = known(conn, req.topic, 'admin')
  conn.send(encodeOk(req.corr, await deleteGroupOf(conn.ctx, t, req.group, req.force === true)))
}

/**
 * Delete `group` of topic `t` on every partition (the caller checked access): GROUP_DELETE, also
 * the panel's action. In a cluster each partition's leader deletes it (and its followers drop their
 * copy with the next group state it sends them: worker/replication.ts); the group's subscriptions
 * are counted on every leader first, so a group in use anywhere is refused before anything changes.
 */
export async function deleteGroupOf(ctx: HandlerContext, t: TopicConfig, group: string, force: boolean) {
  checkName('group', group)
  const node = ctx.cluster
  let done: { partitions: number; endedSubscriptions: number }
  if (!node) done = await deleteHere(ctx, t, group, force)
  else {
    const { members } = await groupState(ctx, t, group)
    if (members > 0 && !force) throw refuseInUse(t.topic, group, members, 'delete it')
    const shares = await perLeader(node, t.topic, partitionNumbers(t.partitions), {
      here: () => deleteHere(ctx, t, group, force),
      there: async (id) => asDeleted(await askLeader(node, id, `deleting group ${group} of ${t.topic}`, (corr) => encodeGroupDelete({ corr, topic: t.topic, group, force, forwarded: true })), id),
    })
    done = { partitions: 0, endedSubscriptions: 0 }
    for (const s of shares) {
      done.partitions += s.partitions
      done.endedSubscriptions += s.endedSubscriptions
    }
  }
  if (done.partitions === 0 && done.endedSubscriptions === 0) throw new SkiffError('UNKNOWN_GROUP', `group ${group} has no state on topic ${t.topic}`, { details: { topic: t.topic, group } })
  ctx.logger.info({ topic: t.topic, group, ...done }, 'group deleted')
  return { topic: t.topic, group, ...done }
}

/** Delete `group` on the partitions this broker holds (all on a single broker, those it leads in a cluster), ending its subscriptions here. */
async function deleteHere(ctx: HandlerContext, t: TopicConfig, group: string, force: boolean): Promise<{ partitions: number; endedSubscriptions: number }> {
  const members = membersOf(ctx, t.topic, group)
  if (members.length > 0 && !force) throw refuseInUse(t.topic, group, members.length, 'delete it')
  // Forced: the members' subscriptions end first, told so the way a deleted topic tells them
  // (an ERROR without corr naming the subscription), so no delivery of the old group is routed after.
  for (const [c, sub] of members) {
    c.subs.delete(sub)
    c.error(new SkiffError('UNKNOWN_GROUP', `group ${group} of topic ${t.topic} was deleted: subscription ${sub} ended`, { details: { sub, topic: t.topic, group } }))
  }
  const had = await perPartition(ctx, t, (partition) => ({ t: 'groupDelete', topic: t.topic, partition, group }))
  return { partitions: had.filter((x) => x === true).length, endedSubscriptions: members.length }
}

function asDeleted(v: unknown, broker: number): { partitions: number; endedSubscriptions: number } {
  const o = v as { partitions?: unknown; endedSubscriptions?: unknown } | null
  if (o && Number.isSafeInteger(o.partitions) && Number.isSafeInteger(o.endedSubscriptions)) return { partitions: o.partitions as number, endedSubscriptions: o.endedSubscriptions as number }
  throw new SkiffError('INTERNAL', `broker ${broker} answered a group deletion that could not be read`)
}

export async function onGroupReset(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeGroupReset(body)
  if (req.forwarded) {
    conn.send(encodeOk(req.corr, await resetForwarded(conn, req)))
    return
  }
  const t = known(conn, req.topic, 'admin')
  conn.send(encodeOk(req.corr, await resetGroupOf(conn.ctx, t, req)))
}

type ResetRequest = Omit<ReturnType<typeof decodeGroupReset>, 'corr' | 'topic'>

/** Move `req.group` of topic `t` (the caller checked access): GROUP_RESET, also the panel's action. */
export async function resetGroupOf(ctx: HandlerContext, t: TopicConfig, req: ResetRequest) {
  checkName('group', req.group)
  if (req.partition !== undefined && req.partition >= t.partitions) {
    throw new SkiffError('INVALID_REQUEST', `topic ${t.topic} has no partition ${req.partition} (it has ${t.partitions})`, { details: { topic: t.topic, partitions: t.partitions } })
  }
  const dryRun = req.dryRun === true
  // Subscriptions and state are counted on every partition's leader first: in use anywhere, or
  // unknown everywhere, is refused before anything changes. A dry run changes nothing, so it may
  // look at a group in use.
  const state = await groupState(ctx, t, req.group)
  if (state.members > 0 && !req.force && !dryRun) throw refuseInUse(t.topic, req.group, state.members, 'reset it')
  if (state.partitions.length === 0) throw new SkiffError('UNKNOWN_GROUP', `group ${req.group} has no state on topic ${t.topic}`, { details: { topic: t.topic, group: req.group } })
  const targets = req.partition === undefined ? partitionNumbers(t.partitions) : [req.partition]
  const node = ctx.cluster
  const here = (led: number[]) => Promise.all(led.map((partition) => resetHere(ctx, t, req, partition)))
  const there = (id: number, led: number[]) =>
    Promise.all(
      led.map(async (partition) =>
        asReset(await askLeader(node!, id, `resetting group ${req.group} of ${t.topic}`, (corr) => encodeGroupReset({ ...req, corr, topic: t.topic, partition, forwarded: true })), id, partition),
      ),
    )
  const partitions = !node ? await here(targets) : (await perLeader(node, t.topic, targets, { here, there })).flat().sort((a, b) => a.partition - b.partition)
  if (!dryRun) ctx.logger.info({ topic: t.topic, group: req.group, to: req.to, value: req.value, partitions }, 'group reset')
  return { topic: t.topic, group: req.group, dryRun, partitions }
}

/** One partition on its owning worker; a partition where the group has no state yet (one added after it was made) gets it. */
function resetHere(ctx: HandlerContext, t: TopicConfig, req: ResetRequest, partition: number): Promise<ResetOutcome> {
  return ctx.pool.request(ownerOf(t.topic, partition, ctx.pool.size), { t: 'groupReset', topic: t.topic, partition, group: req.group, to: req.to, value: req.value, dryRun: req.dryRun === true }) as Promise<ResetOutcome>
}

/**
 * Another broker of the cluster resets the group everywhere and asks this one, the leader of
 * `req.partition`, for that partition (NOT_LEADER when it does not lead it: leadership moved).
 * Its own subscriptions of the group are checked again here: one made since the asking broker
 * counted them refuses the change as on one broker.
 */
async function resetForwarded(conn: HandlerConnection, req: ReturnType<typeof decodeGroupReset>) {
  checkName('group', req.group)
  forwardedTopic(conn, req.topic)
  return resetLedHere(conn.ctx, req)
}

/**
 * Reset `req.group` on `req.partition`, which this broker must lead (NOT_LEADER, or
 * PARTITION_UNAVAILABLE while the cluster has no placement for it yet). A partition just added
 * may be in this broker's view before its copy of the topic has the new count: that is waited for.
 */
export async function resetLedHere(ctx: HandlerContext, req: Omit<ReturnType<typeof decodeGroupReset>, 'corr'>) {
  const node = ctx.cluster
  if (req.partition === undefined) throw new SkiffError('INVALID_REQUEST', `a forwarded GROUP_RESET names one partition of ${req.topic}`)
  const refusal = node?.refusal(req.topic, req.partition)
  if (refusal) throw refusal
  if (node && req.partition >= (ctx.topics.get(req.topic)?.partitions ?? 0)) await node.topicSettled(req.topic)
  const t = ctx.topics.get(req.topic)
  if (!t) throw new SkiffError('UNKNOWN_TOPIC', `topic ${req.topic} does not exist`, { details: { topic: req.topic } })
  if (req.partition >= t.partitions) throw new SkiffError('INVALID_REQUEST', `a forwarded GROUP_RESET names one partition of ${t.topic}`)
  const members = membersOf(ctx, t.topic, req.group).length
  if (members > 0 && !req.force && !req.dryRun) throw refuseInUse(t.topic, req.group, members, 'reset it')
  return { topic: t.topic, group: req.group, dryRun: req.dryRun === true, partitions: [await resetHere(ctx, t, req, req.partition)] }
}

function asReset(v: unknown, broker: number, partition: number): ResetOutcome {
  const o = (v as { partitions?: unknown } | null)?.partitions
  const first = Array.isArray(o) ? (o[0] as ResetOutcome | undefined) : undefined
  if (first && first.partition === partition && Number.isSafeInteger(first.from) && Number.isSafeInteger(first.to)) return first
  throw new SkiffError('INTERNAL', `broker ${broker} answered a reset of partition ${partition} that could not be read`)
}

/**
 * Every record of every partition goes; offsets go on from the old end. The
 * topic's dead-letter topic is not purged with it: its dead letters are
 * evidence of their own (purge `<topic>.dlq` by name to drop them).
 */
export async function onTopicPurge(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeTopicPurge(body)
  if (req.forwarded) {
    // Another broker of the cluster purges the topic: this one purges the partitions it leads.
    const t = forwardedTopic(conn, req.topic)
    conn.send(encodeOk(req.corr, { topic: t.topic, partitions: await purgeHere(conn.ctx, t) }))
    return
  }
  const t = known(conn, req.topic, 'admin')
  conn.send(encodeOk(req.corr, await purgeTopicOf(conn.ctx, t)))
}

type Purged = { partition: number; startOffset: number; purged: number }

/**
 * Drop every record of topic `t` (the caller checked access): TOPIC_PURGE, also the panel's
 * action. In a cluster each partition's leader purges it, and answers once every in-sync
 * replica has dropped the records too (worker/replication.ts purgePartition), so a failover
 * after the answer never brings them back. A partition whose leadership moved while it was
 * asked is PARTITION_UNAVAILABLE: purging again purges it (and what arrived since elsewhere).
 */
export async function purgeTopicOf(ctx: HandlerContext, t: TopicConfig) {
  const node = ctx.cluster
  let partitions: Purged[]
  if (!node) partitions = await purgeHere(ctx, t)
  else {
    const expected = partitionNumbers(t.partitions)
    const shares = await perLeader(node, t.topic, expected, {
      here: () => purgeHere(ctx, t),
      there: async (id) => asPurged(await askLeader(node, id, `purging topic ${t.topic}`, (corr) => encodeTopicPurge({ corr, topic: t.topic, forwarded: true })), id),
    })
    const byPartition = new Map(shares.flat().map((p) => [p.partition, p]))
    const missing = expected.filter((p) => !byPartition.has(p))
    if (missing.length > 0) {
      throw new SkiffError('PARTITION_UNAVAILABLE', `leadership of ${t.topic} partition(s) ${missing.join(', ')} moved while the topic was purged; the others were purged: purge it again`, {
        details: { topic: t.topic, partitions: missing },
      })
    }
    partitions = [...byPartition.values()].sort((a, b) => a.partition - b.partition)
  }
  ctx.logger.info({ topic: t.topic, partitions }, 'topic purged')
  return { topic: t.topic, partitions }
}

/** Purge the partitions this broker holds (all on a single broker, those it leads in a cluster). */
function purgeHere(ctx: HandlerContext, t: TopicConfig): Promise<Purged[]> {
  return perPartition(ctx, t, (partition) => ({ t: 'purge', topic: t.topic, partition }))
}

function asPurged(v: unknown, broker: number): Purged[] {
  const list = (v as { partitions?: unknown } | null)?.partitions
  const ok = Array.isArray(list) && list.every((p: Partial<Purged> | null) => p && Number.isSafeInteger(p.partition) && Number.isSafeInteger(p.startOffset) && Number.isSafeInteger(p.purged))
  if (ok) return list as Purged[]
  throw new SkiffError('INTERNAL', `broker ${broker} answered a purge that could not be read`)
}

/** One TOPIC_ALTER per topic at a time (each reads the config the previous one wrote). */
const altering = new Map<string, Promise<unknown>>()

export async function onTopicAlter(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeTopicAlter(body)
  const node = conn.ctx.cluster
  if (req.forwarded) {
    // Another broker of the cluster was asked to move partitions: this one leads them and records the moves.
    const t = forwardedTopic(conn, req.topic)
    if (!node || !req.moves || req.retentionMs !== undefined || req.retentionBytes !== undefined || req.partitions !== undefined) {
      throw new SkiffError('INVALID_REQUEST', 'a forwarded TOPIC_ALTER carries moves only, between brokers of a cluster')
    }
    await moveLedHere(node, t.topic, req.moves)
    conn.send(encodeOk(req.corr, null))
    return
  }
  const t = known(conn, req.topic, 'admin')
  if (req.retentionMs === undefined && req.retentionBytes === undefined && req.partitions === undefined && req.moves === undefined) {
    throw new SkiffError('INVALID_REQUEST', 'TOPIC_ALTER names nothing to change: give retentionMs, retentionBytes, partitions or moves')
  }
  if (req.moves && !node) throw new SkiffError('INVALID_REQUEST', 'moving partitions is for a cluster: one broker holds every partition')
  if (req.partitions !== undefined) checkPartitionLimit(conn, req.partitions)
  if (node) {
    // In a cluster the change goes into the topic's key and every broker applies it to its copies
    // (cluster-topics.ts); new partitions are placed and the topic's groups started on them (cluster-partitions.ts).
    if (req.partitions !== undefined && req.partitions !== t.partitions) await addPartitionsInCluster(conn.ctx, node, t, req.partitions)
    if (req.retentionMs !== undefined || req.retentionBytes !== undefined) await node.alterTopic(t.topic, { retentionMs: req.retentionMs, retentionBytes: req.retentionBytes })
    if (req.moves) await movePartitionsInCluster(node, conn.ctx.topics.get(t.topic) ?? t, req.moves)
    conn.send(encodeOk(req.corr, await describe(conn.ctx, conn.ctx.topics.get(t.topic) ?? t)))
    return
  }
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
  checkPartitionCount(t, partitions)
  const chain = partitions === t.partitions ? [t] : ctx.topics.chain(topic)
  for (const old of chain) {
    const next: TopicConfig = { ...old, partitions }
    if (old.topic === topic) {
      if (req.retentionMs !== undefined) next.retentionMs = req.retentionMs
      if (req.retentionBytes !== undefined) next.retentionBytes = req.retentionBytes
    }
    const groups = next.partitions > old.partitions ? (await listGroups(ctx, [old], true)).map((g) => g.group) : []
    await ctx.topics.alter(next, async () => {
      await perPartition(ctx, next, (partition) => ({ t: 'alter', config: next, partition, groups }))
    })
    await joinNewPartitions(ctx, old.topic, next.partitions)
    ctx.logger.info({ topic: next.topic, partitions: next.partitions, retentionMs: next.retentionMs, retentionBytes: next.retentionBytes }, 'topic altered')
  }
}

/** A new partition count for topic `t` may only add partitions, and not to a dead-letter topic (its partitions follow its origin's). */
export function checkPartitionCount(t: TopicConfig, partitions: number): void {
  if (partitions < t.partitions) {
    throw new SkiffError('INVALID_REQUEST', `topic ${t.topic} has ${t.partitions} partitions: partitions can only be added, not removed (asked for ${partitions})`, {
      details: { topic: t.topic, partitions: t.partitions, requested: partitions },
    })
  }
  if (partitions !== t.partitions && isDeadLetterTopic(t.topic)) {
    throw new SkiffError('INVALID_REQUEST', `${t.topic} is a dead-letter topic: its partitions follow its origin's; add partitions to the origin topic instead`)
  }
}

/** Subscriptions to `topic` take the partitions it gained, from their beginning. */
async function joinNewPartitions(ctx: HandlerContext, topic: string, partitions: number): Promise<void> {
  const waits: Promise<unknown>[] = []
  for (const c of ctx.connections.values()) {
    for (const s of c.subs.values()) {
      // A subscription to chosen partitions keeps to them.
      if (s.topic !== topic || !s.spec || s.only || s.partitions >= partitions) continue
      // A new partition joins its worker's credit pool when the subscription has one there
      // (the pool keeps its size); on a worker new to it, it brings a partition's share.
      const share = creditShare(s.spec.maxInFlight, 1, partitions)
      for (let p = s.partitions; p < partitions; p++) {
        waits.push(ctx.pool.request(ownerOf(topic, p, ctx.pool.size), { t: 'sub', ...s.spec, maxInFlight: share, start: 'earliest', startValue: undefined, partition: p }))
      }
      s.partitions = partitions
    }
  }
  await Promise.all(waits)
}
