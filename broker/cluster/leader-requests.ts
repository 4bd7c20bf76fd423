/**
 * Asking the leaders of a topic's partitions, for the admin requests that
 * act on every partition (GROUP_DESCRIBE, GROUP_RESET, GROUP_DELETE): the
 * broker a client asked answers for the partitions it leads and asks each
 * other leader, over the peer link, for its share (the request marked
 * `forwarded`, which the leader never forwards again).
 *
 * Decisions written down here:
 * - Leaders are read from this broker's view of etcd. A partition without a
 *   live leader (an election under way) makes the request fail with
 *   PARTITION_UNAVAILABLE before anything is asked: retriable, and nothing
 *   was changed anywhere.
 * - A leader that cannot be reached, or whose link closes before it answers,
 *   fails the request with PARTITION_UNAVAILABLE too (retriable); a change
 *   may then have been made on some partitions and not on others, which the
 *   message says. A reset or a delete asked again converges: both are
 *   idempotent per partition.
 * - Each peer is given ADMIN_TIMEOUT_MS: an admin request waits on a stalled
 *   broker at most that long (its link gives up on a silent peer sooner).
 */
import { SkiffError } from '../../protocol/index.js'
import type { ClusterNode } from './cluster-node.js'

export const ADMIN_TIMEOUT_MS = 10_000

/**
 * `targets` of `topic` grouped by their leader's broker id; a partition
 * without a live leader is PARTITION_UNAVAILABLE, or left out when
 * `skipUnavailable` (a description that does without it).
 */
export function leadersOf(node: ClusterNode, topic: string, targets: readonly number[], skipUnavailable = false): Map<number, number[]> {
  const out = new Map<number, number[]>()
  for (const partition of targets) {
    const leader = node.view.partition(topic, partition)?.leader
    if (leader === undefined || !node.view.brokers.has(leader)) {
      if (skipUnavailable) continue
      throw new SkiffError('PARTITION_UNAVAILABLE', `${topic}/${partition} has no live leader now (an election may be under way): nothing was changed, try again`, {
        details: { topic, partition },
      })
    }
    const list = out.get(leader)
    if (list) list.push(partition)
    else out.set(leader, [partition])
  }
  return out
}

/**
 * Each leader's share of `targets`, at once: `here` for the partitions this
 * broker leads, `there` for another leader's (which asks it); the shares'
 * results, in no particular order. Throws as leadersOf, or the first share
 * that fails.
 */
export function perLeader<T>(
  node: ClusterNode,
  topic: string,
  targets: readonly number[],
  share: { here: (partitions: number[]) => Promise<T>; there: (id: number, partitions: number[]) => Promise<T> },
  skipUnavailable = false,
): Promise<T[]> {
  const leaders = leadersOf(node, topic, targets, skipUnavailable)
  return Promise.all([...leaders].map(([id, partitions]) => (id === node.brokerId ? share.here(partitions) : share.there(id, partitions))))
}

/** Send the frame `encode` makes to broker `id` and return its OK's result; its ERROR, or the link's failure, is thrown. */
export async function askLeader(node: ClusterNode, id: number, what: string, encode: (corr: number) => Buffer): Promise<unknown> {
  const link = node.linkTo(id)
  if (!link) throw unreachable(id, what, 'it is not live, or no broker user can log in to it')
  const answer = await link.call(encode, ADMIN_TIMEOUT_MS)
  switch (answer.kind) {
    case 'ok':
      return answer.result
    case 'error':
      throw answer.error
    case 'lost':
      throw unreachable(id, what, 'the link closed before it answered; the change may have been made there')
    case 'unreachable':
    case 'busy':
      throw unreachable(id, what, answer.reason)
    default:
      throw new SkiffError('INTERNAL', `broker ${id} answered ${what} with ${answer.kind}`)
  }
}

function unreachable(id: number, what: string, why: string): SkiffError {
  return new SkiffError('PARTITION_UNAVAILABLE', `${what}: broker ${id}, a leader of the topic's partitions, could not be asked (${why}); try again`, { details: { broker: id } })
}
