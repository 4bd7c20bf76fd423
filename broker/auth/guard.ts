/**
 * The checks the gateway's handlers make before acting: may this connection's
 * user do this to this topic, and would it pass a configured limit. Each
 * throws the SkiffError the client should see; none closes the connection
 * (FORBIDDEN and INVALID_REQUEST are not fatal).
 *
 * What each request needs:
 * | request                                   | permission                        |
 * | PUBLISH, REQUEST                          | publish on the topic              |
 * | REQUEST marked forwarded (cluster)        | a user marked broker (gateway/handlers/request.ts) |
 * | SUBSCRIBE, SERVE                          | subscribe on the topic            |
 * | SUBSCRIBE, SERVE of a dead-letter topic   | subscribe on it and on every topic of its origin chain (`a.dlq.dlq`: also `a.dlq` and `a`) |
 * | TOPIC_CREATE, TOPIC_DELETE                | admin                             |
 * | TOPIC_PURGE, TOPIC_ALTER, GROUP_DELETE, GROUP_RESET | admin (gateway/handlers/manage.ts) |
 * | TOPIC_DESCRIBE, GROUP_DESCRIBE, GROUP_LIST of a topic | admin, monitor, or publish or subscribe on it |
 * | TOPIC_LIST, GROUP_LIST of all topics      | answered with the topics the user may see |
 * | ACK, UNSUBSCRIBE, UNSERVE, REPLY          | none: they act on what the connection already holds |
 * A dead-letter topic (`orders.dlq`) holds its origin's messages, so reading
 * it needs subscribe on its own name AND on its origin: a user may read only
 * what it could already read. `orders.*` or `orders.>` alone cover
 * `orders.dlq` but not `orders`, and no longer open the dead letters;
 * `orders` with `orders.dlq` (or with `orders.>`) does. Describing a
 * dead-letter topic (offsets and groups, no messages) needs no more than
 * any other topic.
 */
import { SkiffError, DLQ_SUFFIX, isDeadLetterTopic } from '../../protocol/index.js'
import type { Authenticator, Identity, Operation } from './authenticator.js'

/** The part of a gateway connection the checks read. */
export interface GuardedConnection {
  user: Identity | undefined
  readonly ctx: {
    readonly auth: Authenticator
    readonly config: { maxSubscriptionsPerConnection: number; maxPartitionsPerTopic: number }
  }
}

const NOBODY: Identity = { user: 'nobody', via: 'anonymous', credentialId: '', entry: undefined, generation: -1 }

/** Throws FORBIDDEN unless the connection's user may do `op` on `topic`. */
export function requireAccess(conn: GuardedConnection, op: Operation, topic: string): void {
  const user = conn.user ?? NOBODY
  conn.ctx.auth.authorize(user, op, topic)
  const hidden = op === 'subscribe' ? unreadableOrigin(conn.ctx.auth, user, topic) : undefined
  if (hidden !== undefined) {
    throw new SkiffError('FORBIDDEN', `user ${user.user} may not subscribe to topic ${topic}: it holds the dead letters of ${hidden}, which the user may not subscribe to`, {
      details: { user: user.user, operation: op, topic, origin: hidden },
    })
  }
}

export function mayAccess(conn: GuardedConnection, op: Operation, topic: string): boolean {
  const user = conn.user ?? NOBODY
  return conn.ctx.auth.permits(user, op, topic) && (op !== 'subscribe' || unreadableOrigin(conn.ctx.auth, user, topic) === undefined)
}

/** The first topic of `topic`'s dead-letter origin chain (`a.dlq.dlq`: `a.dlq`, then `a`) the user may not subscribe to. */
export function unreadableOrigin(auth: Authenticator, user: Identity, topic: string): string | undefined {
  for (let t = topic; isDeadLetterTopic(t) && t.length > DLQ_SUFFIX.length; ) {
    t = t.slice(0, -DLQ_SUFFIX.length)
    if (!auth.permits(user, 'subscribe', t)) return t
  }
  return undefined
}

export function checkPartitionLimit(conn: GuardedConnection, partitions: number | undefined): void {
  const max = conn.ctx.config.maxPartitionsPerTopic
  if (partitions !== undefined && partitions > max) {
    throw new SkiffError('INVALID_REQUEST', `a topic may have at most ${max} partitions (maxPartitionsPerTopic), not ${partitions}`, {
      details: { limit: 'maxPartitionsPerTopic', value: max },
    })
  }
}

/**
 * Before adding a subscription to the connection; `held` counts the ones it
 * has and the ones being set up (reserved by the SUBSCRIBE handler).
 */
export function checkSubscriptionLimit(conn: GuardedConnection, held: number): void {
  const max = conn.ctx.config.maxSubscriptionsPerConnection
  if (max > 0 && held >= max) {
    throw new SkiffError('INVALID_REQUEST', `a connection may hold at most ${max} subscriptions (maxSubscriptionsPerConnection)`, {
      details: { limit: 'maxSubscriptionsPerConnection', value: max },
    })
  }
}
