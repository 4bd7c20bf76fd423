/**
 * Panel actions that need broker operations not in this build: purge a
 * topic, delete a consumer group, reset a consumer group's position. The
 * page's forms and the POST endpoints (access, CSRF, audit) exist already
 * (action-routes.ts); this file is the one place to wire them to the
 * broker's operations once it has them.
 *
 * Until then each is refused with INVALID_REQUEST (not INTERNAL: nothing
 * failed, and retrying will not help) and a message the page shows.
 */
import { SkiffError } from '../../../protocol/index.js'
import type { GatewayContext } from '../../gateway/context.js'

export interface GroupRef {
  topic: string
  group: string
}

export async function purgeTopic(_ctx: GatewayContext, topic: string): Promise<unknown> {
  throw new SkiffError('INVALID_REQUEST', `purging a topic (${topic}) is not available in this build`)
}

export async function deleteGroup(_ctx: GatewayContext, ref: GroupRef): Promise<unknown> {
  throw new SkiffError('INVALID_REQUEST', `deleting a group (${ref.group} on ${ref.topic}) is not available in this build`)
}

/** `to`: 'earliest', 'latest', or an offset. */
export async function resetGroup(_ctx: GatewayContext, ref: GroupRef & { to: 'earliest' | 'latest' | number }): Promise<unknown> {
  throw new SkiffError('INVALID_REQUEST', `resetting a group (${ref.group} on ${ref.topic}) is not available in this build`)
}
