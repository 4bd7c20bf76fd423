/**
 * SUBSCRIBE / UNSUBSCRIBE. A subscription spans every partition of the topic;
 * each partition's owner gets the member with a share of the credits
 * (ceil(maxInFlight / partitions), at least 1), so a single-partition topic
 * honours maxInFlight exactly and a wide topic stays within a small multiple.
 * The subscription is registered before the workers answer, so a delivery that
 * overtakes the OK is still routed.
 */
import { SkiffError, checkName, decodeSubscribe, decodeUnsubscribe, encodeOk } from '../../../protocol/index.js'
import type { Connection } from '../connection.js'
import { ownerOf } from '../../topic-store.js'
import { checkSubscriptionLimit, checkTopicLimit, requireAccess } from '../../auth/guard.js'

export async function onSubscribe(conn: Connection, body: Buffer): Promise<void> {
  const s = decodeSubscribe(body)
  const { ctx } = conn
  if (ctx.draining) throw new SkiffError('SHUTTING_DOWN')
  checkName('topic', s.topic)
  checkName('group', s.group)
  requireAccess(conn, 'subscribe', s.topic)
  if (conn.subs.has(s.sub)) throw new SkiffError('INVALID_REQUEST', `subscription id ${s.sub} is already in use on this connection`)
  checkSubscriptionLimit(conn)
  checkTopicLimit(conn, s.topic)
  const topic = await ctx.topics.ensure(s.topic, true)
  if (conn.closed) return
  conn.subs.set(s.sub, { topic: s.topic, group: s.group, partitions: topic.partitions })
  const credits = Math.max(1, Math.ceil(s.maxInFlight / topic.partitions))
  const waits: Promise<unknown>[] = []
  for (let p = 0; p < topic.partitions; p++) {
    waits.push(
      ctx.pool.request(ownerOf(s.topic, p, ctx.pool.size), {
        t: 'sub',
        conn: conn.id,
        sub: s.sub,
        topic: s.topic,
        partition: p,
        group: s.group,
        start: s.start,
        startValue: s.startValue,
        maxInFlight: credits,
        ackTimeoutMs: s.ackTimeoutMs ?? ctx.config.ackTimeoutMs,
        maxDeliveries: Math.max(1, s.maxDeliveries ?? ctx.config.maxDeliveries),
        ackNone: s.ack === 'none',
      }),
    )
  }
  try {
    await Promise.all(waits)
  } catch (err) {
    conn.subs.delete(s.sub)
    throw err
  }
  conn.send(encodeOk(s.corr, { partitions: topic.partitions }))
}

export async function onUnsubscribe(conn: Connection, body: Buffer): Promise<void> {
  const u = decodeUnsubscribe(body)
  const sub = conn.subs.get(u.sub)
  if (!sub) throw new SkiffError('UNKNOWN_SUBSCRIPTION', `no subscription ${u.sub} on this connection`)
  conn.subs.delete(u.sub)
  const { pool } = conn.ctx
  const waits: Promise<unknown>[] = []
  for (let p = 0; p < sub.partitions; p++) {
    waits.push(pool.request(ownerOf(sub.topic, p, pool.size), { t: 'unsub', conn: conn.id, sub: u.sub, topic: sub.topic, partition: p, group: sub.group }))
  }
  await Promise.all(waits)
  conn.send(encodeOk(u.corr))
}
