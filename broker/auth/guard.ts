/**
 * The checks the gateway's handlers make before acting: may this connection's
 * user do this to this topic, and would it pass a configured limit. Each
 * throws the SkiffError the client should see; none closes the connection
 * (FORBIDDEN and INVALID_REQUEST are not fatal).
 *
 * What each request needs:
 * | request                                   | permission                        |
 * | PUBLISH, REQUEST                          | publish on the topic              |
 * | SUBSCRIBE, SERVE                          | subscribe on the topic            |
 * | TOPIC_CREATE, TOPIC_DELETE                | admin                             |
 * | TOPIC_DESCRIBE, GROUP_DESCRIBE, GROUP_LIST of a topic | admin, monitor, or publish or subscribe on it |
 * | TOPIC_LIST, GROUP_LIST of all topics      | answered with the topics the user may see |
 * | ACK, UNSUBSCRIBE, UNSERVE, REPLY          | none: they act on what the connection already holds |
 * Dead-letter topics (`orders.dlq`) are topics like any other here: reading
 * one needs subscribe on its own name (`orders.>` covers it, `orders` does not).
 */
import { SkiffError } from '../../protocol/index.js'
import type { Authenticator, Identity, Operation } from './authenticator.js'

/** The part of a gateway connection the checks read. */
export interface GuardedConnection {
  user: Identity | undefined
  readonly subs: { readonly size: number }
  readonly ctx: {
    readonly auth: Authenticator
    readonly config: { maxSubscriptionsPerConnection: number; maxTopics: number; maxPartitionsPerTopic: number }
    readonly topics: { get(topic: string): unknown; list(): readonly unknown[] }
  }
}

const NOBODY: Identity = { user: 'nobody', via: 'anonymous', credentialId: '', entry: undefined, generation: -1 }

/** Throws FORBIDDEN unless the connection's user may do `op` on `topic`. */
export function requireAccess(conn: GuardedConnection, op: Operation, topic: string): void {
  conn.ctx.auth.authorize(conn.user ?? NOBODY, op, topic)
}

export function mayAccess(conn: GuardedConnection, op: Operation, topic: string): boolean {
  return conn.ctx.auth.permits(conn.user ?? NOBODY, op, topic)
}

/** Before a publish or subscribe that may create `topic`, and before TOPIC_CREATE. */
export function checkTopicLimit(conn: GuardedConnection, topic: string): void {
  const { maxTopics } = conn.ctx.config
  if (maxTopics <= 0 || conn.ctx.topics.get(topic) !== undefined) return
  const count = conn.ctx.topics.list().length
  if (count >= maxTopics) {
    throw new SkiffError('INVALID_REQUEST', `the broker already has ${count} topics (maxTopics ${maxTopics}); topic ${topic} was not created`, {
      details: { limit: 'maxTopics', value: maxTopics, topic },
    })
  }
}

export function checkPartitionLimit(conn: GuardedConnection, partitions: number | undefined): void {
  const max = conn.ctx.config.maxPartitionsPerTopic
  if (partitions !== undefined && partitions > max) {
    throw new SkiffError('INVALID_REQUEST', `a topic may have at most ${max} partitions (maxPartitionsPerTopic), not ${partitions}`, {
      details: { limit: 'maxPartitionsPerTopic', value: max },
    })
  }
}

/** Before adding a subscription to the connection. */
export function checkSubscriptionLimit(conn: GuardedConnection): void {
  const max = conn.ctx.config.maxSubscriptionsPerConnection
  if (max > 0 && conn.subs.size >= max) {
    throw new SkiffError('INVALID_REQUEST', `a connection may hold at most ${max} subscriptions (maxSubscriptionsPerConnection)`, {
      details: { limit: 'maxSubscriptionsPerConnection', value: max },
    })
  }
}
