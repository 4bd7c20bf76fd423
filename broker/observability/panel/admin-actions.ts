/**
 * The panel's actions that change groups and topics: purge a topic, delete a
 * consumer group, reset a consumer group's position. They run the same code
 * as TOPIC_PURGE, GROUP_DELETE and GROUP_RESET (gateway/handlers/manage.ts);
 * the panel has already checked that the user is an admin (action-routes.ts).
 *
 * A group with subscribed members is refused with GROUP_IN_USE, as over the
 * protocol, unless the form sends `force`: the page shows that message, so
 * the person decides with the member count in front of them.
 */
import { SkiffError } from '../../../protocol/index.js'
import type { GatewayContext } from '../../gateway/context.js'
import type { TopicConfig } from '../../thread-messages.js'
import { deleteGroupOf, purgeTopicOf, resetGroupOf } from '../../gateway/handlers/manage.js'

export interface GroupRef {
  topic: string
  group: string
  force?: boolean
}

function topicOf(ctx: GatewayContext, topic: string): TopicConfig {
  const t = ctx.topics.get(topic)
  if (!t) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist`, { details: { topic } })
  return t
}

export async function purgeTopic(ctx: GatewayContext, topic: string): Promise<unknown> {
  return purgeTopicOf(ctx, topicOf(ctx, topic))
}

export async function deleteGroup(ctx: GatewayContext, ref: GroupRef): Promise<unknown> {
  return deleteGroupOf(ctx, topicOf(ctx, ref.topic), ref.group, ref.force === true)
}

/** `to`: 'earliest', 'latest', or an offset (every partition). */
export async function resetGroup(ctx: GatewayContext, ref: GroupRef & { to: 'earliest' | 'latest' | number }): Promise<unknown> {
  const target = typeof ref.to === 'number' ? { to: 'offset' as const, value: ref.to } : { to: ref.to }
  return resetGroupOf(ctx, topicOf(ctx, ref.topic), { group: ref.group, force: ref.force === true, ...target })
}
