/**
 * SUBSCRIBE / UNSUBSCRIBE. An ephemeral SUBSCRIBE (no group) gets a group of
 * its own that the workers keep in memory only and drop when it ends
 * (unsubscribe, disconnect): nothing of it reaches the disk. A subscription spans every partition of the topic.
 * Its credits are split over the workers, not the partitions (workerShares):
 * on each worker its partitions share one member and so one pool of credits.
 * A SUBSCRIBE that names partitions (and, in a cluster, every SUBSCRIBE)
 * covers only those (`only`). The subscription is registered before the workers answer, so a delivery that
 * overtakes the OK is still routed.
 */
import { SkiffError, checkName, decodeSubscribe, decodeUnsubscribe, encodeOk } from '../../../protocol/index.js'
import type { HandlerConnection } from '../handler-connection.js'
import { ownerOf, partitionNumbers } from '../../routing.js'
import { checkSubscriptionLimit, requireAccess } from '../../auth/guard.js'

/**
 * Subscription ids being set up on each connection (waiting for their topic).
 * A SUBSCRIBE reserves its id here before its first await and counts it
 * against maxSubscriptionsPerConnection, so pipelined SUBSCRIBEs can neither
 * pass the limit nor take one id twice; the reservation becomes the entry in
 * `conn.subs`, or is released when the subscribe fails. Kept here, not on the
 * connection: only this handler makes them, and nothing else need know.
 */
const settingUp = new WeakMap<HandlerConnection, Set<number>>()

/** Credit pools handed out (the `sub` op's creditPool): one per SUBSCRIBE, never reused. */
let nextCreditPool = 1

/**
 * Each worker's share of a subscription's `maxInFlight`: split over the
 * workers by how many of the subscribed partitions each owns (at least 1
 * each), so the shares add up to maxInFlight, or to one more per worker at
 * most. The members on one worker's partitions share its share.
 *
 * Why not a share per partition (ceil(maxInFlight / partitions), as
 * before): a partition could then hold only its fraction of the window
 * even while the others had nothing to deliver. A topic of 6 partitions
 * read with the default window of 1,000 got 167 deliveries per round trip
 * from a partition that had just been given a batch of 1,000: six rounds of
 * DELIVER and ACK per batch, and the replicated S1's consumer paid for each
 * (bench/README.md, Round 16). Shared, a partition with records uses the
 * whole share; the total stays within maxInFlight (one more per worker).
 */
export function workerShares(maxInFlight: number, partitions: readonly number[], owner: (partition: number) => number): Map<number, number> {
  const owned = new Map<number, number>()
  for (const p of partitions) owned.set(owner(p), (owned.get(owner(p)) ?? 0) + 1)
  const shares = new Map<number, number>()
  for (const [worker, n] of owned) shares.set(worker, creditShare(maxInFlight, n, partitions.length))
  return shares
}

/** The credits of `owned` partitions out of `total`: their part of maxInFlight, rounded up, at least 1. */
export function creditShare(maxInFlight: number, owned: number, total: number): number {
  return Math.max(1, Math.ceil((maxInFlight * owned) / total))
}

function reservationsOf(conn: HandlerConnection): Set<number> {
  let ids = settingUp.get(conn)
  if (!ids) settingUp.set(conn, (ids = new Set()))
  return ids
}

export async function onSubscribe(conn: HandlerConnection, body: Buffer): Promise<void> {
  const s = decodeSubscribe(body)
  const { ctx } = conn
  if (ctx.draining) throw new SkiffError('SHUTTING_DOWN')
  checkName('topic', s.topic)
  if (!s.ephemeral) checkName('group', s.group)
  requireAccess(conn, 'subscribe', s.topic)
  const reserved = reservationsOf(conn)
  if (conn.subs.has(s.sub) || reserved.has(s.sub)) throw new SkiffError('INVALID_REQUEST', `subscription id ${s.sub} is already in use on this connection`)
  checkSubscriptionLimit(conn, conn.subs.size + reserved.size)
  reserved.add(s.sub)
  let topic
  try {
    // A broker still joining its cluster answers once it knows which partitions it leads (cluster-node.ts).
    if (ctx.cluster && !ctx.cluster.joined) await ctx.cluster.whenJoined
    topic = await ctx.topics.ensure(s.topic, true)
  } finally {
    reserved.delete(s.sub) // from here on it is in conn.subs (no await in between), or it failed
  }
  if (conn.closed) return
  const partitions = partitionsOf(ctx, s.topic, topic.partitions, s.partitions)
  const spec = {
    conn: conn.id,
    sub: s.sub,
    topic: s.topic,
    group: s.ephemeral ? ephemeralGroup(conn.id, s.sub) : s.group,
    start: s.start,
    startValue: s.startValue,
    // The subscription's whole window; each worker is sent its share (workerShares).
    maxInFlight: s.maxInFlight,
    creditPool: nextCreditPool++,
    ackTimeoutMs: s.ackTimeoutMs ?? ctx.config.ackTimeoutMs,
    maxDeliveries: Math.max(1, s.maxDeliveries ?? ctx.config.maxDeliveries),
    ackNone: s.ack === 'none',
    ...(s.ephemeral ? { ephemeral: true } : {}),
  }
  const only = partitions.length === topic.partitions ? undefined : new Set(partitions)
  conn.subs.set(s.sub, { topic: s.topic, group: spec.group, partitions: topic.partitions, ...(only ? { only } : {}), ...(s.ephemeral ? { ephemeral: true } : {}), spec })
  const owner = (partition: number) => ownerOf(s.topic, partition, ctx.pool.size)
  const shares = workerShares(s.maxInFlight, partitions, owner)
  const subscribed = Promise.all(partitions.map((partition) => ctx.pool.request(owner(partition), { t: 'sub', ...spec, maxInFlight: shares.get(owner(partition))!, partition })))
  try {
    await subscribed
  } catch (err) {
    conn.subs.delete(s.sub)
    throw err
  }
  conn.send(encodeOk(s.corr, only ? { partitions: topic.partitions, subscribed: partitions } : { partitions: topic.partitions }))
}

/**
 * The partitions a SUBSCRIBE covers here: those it names (each must exist,
 * and in a cluster be led here: NOT_LEADER names the leader), or else every
 * partition this broker leads (a single broker: all of them).
 */
function partitionsOf(ctx: HandlerConnection['ctx'], topic: string, count: number, named: number[] | undefined): readonly number[] {
  if (named) {
    for (const p of named) {
      if (p >= count) throw new SkiffError('INVALID_REQUEST', `topic ${topic} has no partition ${p} (it has ${count})`, { details: { topic, partition: p } })
      const refusal = ctx.cluster?.refusal(topic, p)
      if (refusal) throw refusal
    }
    return [...named].sort((a, b) => a - b)
  }
  if (ctx.cluster) return ctx.cluster.ledHere(topic, count)
  return partitionNumbers(count)
}

/**
 * The group of an ephemeral subscription: one per subscription, unique in
 * this process (connection ids are never reused). `~` is not allowed in group
 * names, so no client can name it, describe it or join it.
 */
export function ephemeralGroup(conn: number, sub: number): string {
  return `~${conn}.${sub}`
}

export async function onUnsubscribe(conn: HandlerConnection, body: Buffer): Promise<void> {
  const u = decodeUnsubscribe(body)
  const sub = conn.subs.get(u.sub)
  if (!sub) throw new SkiffError('UNKNOWN_SUBSCRIPTION', `no subscription ${u.sub} on this connection`)
  conn.subs.delete(u.sub)
  const { pool } = conn.ctx
  const waits: Promise<unknown>[] = []
  for (let p = 0; p < sub.partitions; p++) {
    if (sub.only && !sub.only.has(p)) continue
    waits.push(pool.request(ownerOf(sub.topic, p, pool.size), { t: 'unsub', conn: conn.id, sub: u.sub, topic: sub.topic, partition: p, group: sub.group }))
  }
  await Promise.all(waits)
  conn.send(encodeOk(u.corr))
}
