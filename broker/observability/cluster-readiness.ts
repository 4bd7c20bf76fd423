/**
 * Why a broker of a cluster is not ready (/readyz 503), or undefined when it
 * is: its registration in etcd must hold (the others take a broker without it
 * for gone), and no partition it leads may have fewer in-sync members than
 * its topic's minInSync (CLUSTER.md "Operations"): such a partition refuses
 * publishes with NOT_ENOUGH_REPLICAS, and a load balancer or a rolling
 * restart should not count this broker as healthy meanwhile.
 */
import type { ClusterStatus } from './broker-view.js'

/** Partitions named in the body; the count covers the rest. */
const NAMED = 10

export function clusterUnready(s: ClusterStatus | undefined): string | undefined {
  if (!s) return undefined
  if (!s.registered) return 'not registered in the cluster'
  if (s.belowMinInSyncCount === 0) return undefined
  const named = s.belowMinInSync.slice(0, NAMED).map((b) => `${b.topic}/${b.partition} has ${b.isr} in-sync of minInSync ${b.minInSync}`)
  const more = s.belowMinInSyncCount - named.length
  const n = s.belowMinInSyncCount
  return `${n} partition${n === 1 ? '' : 's'} led here below minInSync: ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}`
}
