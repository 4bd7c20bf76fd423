/**
 * The panel's actions that change groups and topics: purge a topic, delete a
 * consumer group, reset a consumer group's position. They run the same code
 * as TOPIC_PURGE, GROUP_DELETE and GROUP_RESET (gateway/handlers/manage.ts, by way
 * of BrokerView);
 * the panel has already checked that the user is an admin (action-routes.ts).
 *
 * A group with subscribed members is refused with GROUP_IN_USE, as over the
 * protocol, unless the form sends `force`: the page shows that message, so
 * the person decides with the member count in front of them.
 */
import { SkiffError } from '../../../protocol/index.js'
import type { BrokerView } from '../broker-view.js'
import type { TopicConfig } from '../../thread-messages.js'

export interface GroupRef {
  topic: string
  group: string
  force?: boolean
}

function topicOf(broker: BrokerView, topic: string): TopicConfig {
  const t = broker.topics.get(topic)
  if (!t) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist`, { details: { topic } })
  return t
}

export async function purgeTopic(broker: BrokerView, topic: string): Promise<unknown> {
  return broker.purgeTopic(topicOf(broker, topic))
}

export async function deleteGroup(broker: BrokerView, ref: GroupRef): Promise<unknown> {
  return broker.deleteGroup(topicOf(broker, ref.topic), ref.group, ref.force === true)
}

/** `to`: 'earliest', 'latest', or an offset (every partition). */
export async function resetGroup(broker: BrokerView, ref: GroupRef & { to: 'earliest' | 'latest' | number }): Promise<unknown> {
  const target = typeof ref.to === 'number' ? { to: 'offset' as const, value: ref.to } : { to: ref.to }
  return broker.resetGroup(topicOf(broker, ref.topic), { group: ref.group, force: ref.force === true, ...target })
}
