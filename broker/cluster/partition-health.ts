/**
 * Whether one partition is served, and fully replicated, as the etcd view
 * shows it: its key (leader, replicas, in-sync set with each member's
 * incarnation) against the live brokers. A pure function of those two, so
 * every broker reaches the same verdict from the same revision, and
 * `skiff cluster status`, the metrics and the panel say the same thing.
 *
 * The reasons name brokers, so an operator knows which machine to look at.
 */
import type { BrokerRecord, PartitionRecord } from './records.js'

export interface PartitionHealth {
  /** Why the partition has no live leader (clients get PARTITION_UNAVAILABLE). */
  unavailable?: string
  /** Why it has fewer live, in-sync copies than replicas. */
  underReplicated?: string
}

/** A partition that is fully replicated and led: shared, never changed. */
const HEALTHY: PartitionHealth = Object.freeze({})

/**
 * A partition without a live leader is reported as unavailable only, not
 * also as under-replicated: the worse condition is the one to act on, and
 * (as Kafka's UnderReplicatedPartitions and OfflinePartitionsCount) the two
 * counts add up to the partitions that need attention.
 *
 * Under-replicated, for each replica:
 * - not live (its broker key is gone), in the in-sync set or not;
 * - live but outside the in-sync set: out of sync;
 * - in the in-sync set under an earlier incarnation: the broker restarted
 *   and has not been taken back in as the process it is now.
 * The leader is not held to its own incarnation: it is the copy the others
 * follow, and whether a restarted broker may lead is the election's business
 * (CLUSTER.md invariant 4). It also keeps a one-copy partition, whose
 * in-sync set nothing rewrites, from reading as under-replicated for ever
 * once its broker has restarted.
 */
export function partitionHealth(p: PartitionRecord | undefined, brokers: ReadonlyMap<number, BrokerRecord>): PartitionHealth {
  if (!p) return { unavailable: 'no placement yet' }
  if (!brokers.has(p.leader)) {
    const electable = p.isr.some((m) => m.id !== p.leader && brokers.get(m.id)?.incarnation === m.incarnation)
    return { unavailable: electable ? `leader ${p.leader} not live` : `leader ${p.leader} not live, no in-sync replica live` }
  }
  let reasons: string[] | undefined
  for (const id of p.replicas) {
    const live = brokers.get(id)
    const member = p.isr.find((m) => m.id === id)
    let why: string | undefined
    if (!live) why = `broker ${id} not live`
    else if (!member) why = `broker ${id} out of sync`
    else if (id !== p.leader && member.incarnation !== live.incarnation) why = `broker ${id} restarted, catching up`
    if (why) (reasons ??= []).push(why)
  }
  return reasons ? { underReplicated: reasons.join('; ') } : HEALTHY
}
