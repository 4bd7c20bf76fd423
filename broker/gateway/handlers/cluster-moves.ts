/**
 * Moving partitions in a cluster (TOPIC_ALTER `moves`): the broker asked
 * checks the moves against its view, then each partition's leader records
 * its move in the partition's key (the one writer of that key, CLUSTER.md
 * invariant 5): this broker for the partitions it leads, a forwarded
 * TOPIC_ALTER for another leader's (leader-requests.ts). The leaders carry
 * the moves out (cluster/partition-moves.ts).
 *
 * Decisions written down here:
 * - The answer comes once every move is recorded and this broker's view
 *   shows it (so the description in the answer has `movingTo`), not when the
 *   copies are in place: that takes as long as copying the partition does.
 *   `skiff topics describe` shows each partition's `movingTo` until it ends.
 * - A partition without a live leader fails the request before anything is
 *   asked (PARTITION_UNAVAILABLE, retriable); moves already recorded on
 *   other partitions stay, and asking the same moves again converges.
 */
import { SkiffError, encodeTopicAlter, type PartitionMove } from '../../../protocol/index.js'
import type { ClusterNode } from '../../cluster/cluster-node.js'
import { ADMIN_TIMEOUT_MS, askLeader, perLeader } from '../../cluster/leader-requests.js'
import { checkMoves, sameSet } from '../../cluster/partition-moves.js'
import type { TopicConfig } from '../../thread-messages.js'

const SEEN_POLL_MS = 50

/** Record `moves` of topic `t` with their leaders; resolves once this broker's view shows them all. */
export async function movePartitionsInCluster(node: ClusterNode, t: TopicConfig, moves: readonly PartitionMove[]): Promise<void> {
  checkMoves(node.view, t.topic, moves)
  const byPartition = new Map(moves.map((m) => [m.partition, m]))
  const share = (partitions: number[]) => partitions.map((p) => byPartition.get(p)!)
  await perLeader(node, t.topic, [...byPartition.keys()], {
    here: (partitions) => moveLedHere(node, t.topic, share(partitions)),
    there: async (id, partitions) => {
      await askLeader(node, id, `moving partitions of ${t.topic}`, (corr) => encodeTopicAlter({ corr, topic: t.topic, moves: share(partitions), forwarded: true }))
    },
  })
  await shown(node, t.topic, moves)
}

/** The moves of partitions this broker leads (asked here, or forwarded by the broker a client asked). */
export async function moveLedHere(node: ClusterNode, topic: string, moves: readonly PartitionMove[]): Promise<void> {
  await Promise.all(moves.map((m) => node.replicator.startMove(topic, m)))
}

/** Until this broker's view has every move recorded (or already done). */
async function shown(node: ClusterNode, topic: string, moves: readonly PartitionMove[]): Promise<void> {
  const deadline = Date.now() + ADMIN_TIMEOUT_MS
  const seen = (m: PartitionMove) => {
    const rec = node.view.partition(topic, m.partition)
    return sameSet(rec?.target ?? rec?.replicas ?? [], m.replicas)
  }
  while (!moves.every(seen)) {
    if (Date.now() >= deadline) throw new SkiffError('TIMEOUT', `the moves of ${topic} were recorded, but this broker's view of the cluster did not show them within ${ADMIN_TIMEOUT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, SEEN_POLL_MS))
  }
}
