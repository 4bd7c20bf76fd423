/**
 * Adding partitions to a topic in a cluster (TOPIC_ALTER's `partitions`):
 * the cluster's keys get the new partitions, placed on the live brokers as
 * a new topic's are (ClusterNode.addPartitions), every broker's replica
 * roles open its copies, and every group of the topic is started at each
 * new partition's beginning by that partition's leader, as on one broker
 * (manage.ts alter): nothing published to a new partition before its
 * consumers join it is skipped.
 *
 * Decisions written down here:
 * - The groups are those with state on the topic before the change, listed
 *   on every leader. Each is started by a reset to `earliest` of the new
 *   partition, asked of its leader (the forwarded GROUP_RESET that `skiff
 *   groups reset` uses), forced: a member that already reads the new
 *   partition (its consumer saw the new count first) gets its first records
 *   again rather than skipping them (at-least-once).
 * - A new partition's leader takes requests for it once its view of etcd
 *   and its copy of the topic have it: a reset refused as retriable
 *   (PARTITION_UNAVAILABLE, NOT_LEADER) is asked again every RETRY_MS for up
 *   to ADMIN_TIMEOUT_MS. Past that the alter fails with the refusal: the
 *   partitions exist, and the groups not started there start where their
 *   consumers' `from` puts them.
 * - Resets go out STARTS_AT_ONCE at a time, partition by partition, so a
 *   topic with many groups does not flood one peer link.
 */
import { SkiffError, encodeGroupReset } from '../../../protocol/index.js'
import type { ClusterNode } from '../../cluster/cluster-node.js'
import { ADMIN_TIMEOUT_MS, askLeader } from '../../cluster/leader-requests.js'
import type { TopicConfig } from '../../thread-messages.js'
import type { HandlerContext } from '../handler-connection.js'
import { listGroups } from './admin.js'
import { checkPartitionCount, resetLedHere } from './manage.js'

const RETRY_MS = 100
const STARTS_AT_ONCE = 16

/** Give topic `t` `partitions` partitions in the cluster, its groups started on the new ones. */
export async function addPartitionsInCluster(ctx: HandlerContext, node: ClusterNode, t: TopicConfig, partitions: number): Promise<void> {
  checkPartitionCount(t, partitions)
  const groups = (await listGroups(ctx, [t], true)).map((g) => g.group)
  await node.addPartitions(t.topic, partitions)
  for (let partition = t.partitions; partition < partitions; partition++) {
    for (let i = 0; i < groups.length; i += STARTS_AT_ONCE) {
      await Promise.all(groups.slice(i, i + STARTS_AT_ONCE).map((group) => startGroup(ctx, node, t.topic, group, partition)))
    }
  }
  ctx.logger.info({ topic: t.topic, from: t.partitions, partitions, groups: groups.length }, 'partitions added')
}

/** `group` starts at the beginning of new partition `partition`, by its leader; retriable refusals are asked again. */
async function startGroup(ctx: HandlerContext, node: ClusterNode, topic: string, group: string, partition: number): Promise<void> {
  const req = { topic, group, to: 'earliest' as const, partition, force: true }
  const deadline = Date.now() + ADMIN_TIMEOUT_MS
  for (;;) {
    try {
      const leader = node.view.partition(topic, partition)?.leader
      if (leader === node.brokerId) await resetLedHere(ctx, req)
      else if (leader === undefined) throw new SkiffError('PARTITION_UNAVAILABLE', `${topic}/${partition} is not placed in this broker's view yet`, { details: { topic, partition } })
      else await askLeader(node, leader, `starting group ${group} on ${topic}/${partition}`, (corr) => encodeGroupReset({ ...req, corr, forwarded: true }))
      return
    } catch (err) {
      const retriable = err instanceof SkiffError && (err.code === 'PARTITION_UNAVAILABLE' || err.code === 'NOT_LEADER')
      if (!retriable || Date.now() >= deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS))
    }
  }
}
