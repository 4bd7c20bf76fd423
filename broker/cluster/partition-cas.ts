/**
 * The one way a partition's key changes after creation: a compare-and-swap
 * on the mod revision this broker's view last saw (CLUSTER.md invariant 3:
 * safety comes from Txn results, never from a lease or a clock). Used by the
 * leader for in-sync set changes and by an election's candidate, which also
 * requires its own broker key to exist (its lease still holds).
 */
import type { EtcdClient } from './etcd/client.js'
import type { Compare } from './etcd/txn.js'
import type { ClusterKeys } from './keys.js'
import type { PartitionRecord } from './records.js'

export async function casPartition(client: EtcdClient, keys: ClusterKeys, topic: string, partition: number, seenRevision: number, next: PartitionRecord, requireBroker?: number): Promise<boolean> {
  const key = keys.partition(topic, partition)
  const compare: Compare[] = [{ key, target: 'modRevision', op: '==', value: seenRevision }]
  if (requireBroker !== undefined) compare.push({ key: keys.broker(requireBroker), target: 'version', op: '>', value: 0 })
  const res = await client.txn({ compare, success: [{ type: 'put', key, value: JSON.stringify(next) }] })
  return res.succeeded
}
