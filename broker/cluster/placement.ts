/**
 * Where a new topic's partitions go: `replicationFactor` distinct live
 * brokers each, the first of them its leader. Leaders go to the brokers that
 * lead the fewest partitions so far (counting the ones placed by this call),
 * so a cluster's leadership stays even as topics are made; ties are broken
 * by a rotation that starts at a hash of the topic's name, so topics made on
 * an idle cluster do not all start on the lowest id. Followers are the
 * brokers after the leader in id order (Kafka's rack-unaware assignment).
 * The same inputs always give the same answer: whichever broker creates the
 * topic, and a retry after a lost CAS, place it alike.
 *
 * A topic's dead-letter topic is not placed: each of its partitions lives
 * with its origin partition (same replicas, leader and epoch), so a dead
 * letter is a local append (CLUSTER.md).
 */
import { stringHash } from '../../protocol/records.js'

export interface PlacementInput {
  topic: string
  partitions: number
  replicationFactor: number
  /** Live broker ids. */
  brokers: readonly number[]
  /** Partitions each broker leads now (absent: none). */
  leading?: ReadonlyMap<number, number>
}

/** Each partition's replicas, leader first. Throws when fewer live brokers than the replication factor. */
export function placePartitions(input: PlacementInput): number[][] {
  const brokers = [...new Set(input.brokers)].sort((a, b) => a - b)
  const rf = input.replicationFactor
  if (brokers.length === 0) throw new Error('no live broker to place partitions on')
  if (rf < 1 || rf > brokers.length) throw new Error(`replication factor ${rf} needs ${rf} live brokers, ${brokers.length} are live`)
  const leads = brokers.map((b) => input.leading?.get(b) ?? 0)
  const start = stringHash(input.topic) % brokers.length
  const out: number[][] = []
  for (let p = 0; p < input.partitions; p++) {
    let best = -1
    for (let k = 0; k < brokers.length; k++) {
      const i = (start + p + k) % brokers.length
      if (best < 0 || leads[i]! < leads[best]!) best = i
    }
    leads[best]!++
    const replicas: number[] = []
    for (let r = 0; r < rf; r++) replicas.push(brokers[(best + r) % brokers.length]!)
    out.push(replicas)
  }
  return out
}
