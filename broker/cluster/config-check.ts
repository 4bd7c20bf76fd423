/**
 * The cluster options, checked with the rest of the config (config.ts): a
 * mistake stops the start with one line naming the option.
 */
import type { BrokerConfig } from '../config.js'
import { CLUSTER_NAME } from './keys.js'
import { MAX_BROKER_ID } from '../../protocol/frames/metadata.js'

/** `etcd://h1:2379,h2:2379` (or `http://` URLs, comma-separated) as the member URLs the etcd client takes. */
export function etcdEndpoints(cluster: string): string[] {
  const list = cluster.replace(/^etcd:\/\//, '').split(',').map((s) => s.trim()).filter(Boolean)
  return list.map((m) => (/^https?:\/\//.test(m) ? m : `http://${m}`))
}

export function clusterConfigProblem(c: BrokerConfig): string | undefined {
  if (!Number.isInteger(c.brokerId) || c.brokerId > MAX_BROKER_ID) return `brokerId must be an integer 0-${MAX_BROKER_ID}, not ${c.brokerId}`
  if (!CLUSTER_NAME.test(c.clusterName)) return `clusterName must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit, not ${JSON.stringify(c.clusterName)}`
  if (!Number.isInteger(c.replicaLagMs) || c.replicaLagMs < 1000 || c.replicaLagMs > 600_000) return `replicaLagMs must be an integer 1000-600000, not ${c.replicaLagMs}`
  if (c.cluster === '') return undefined
  if (!/^(etcd|https?):\/\//.test(c.cluster)) return `cluster must be etcd://host:port[,host:port...], not ${JSON.stringify(c.cluster)}`
  for (const url of etcdEndpoints(c.cluster)) {
    let u: URL
    try {
      u = new URL(url)
    } catch {
      return `cluster: ${JSON.stringify(url)} is not host:port`
    }
    if (!u.hostname || !u.port || u.pathname !== '/') return `cluster: each etcd member must be host:port, not ${JSON.stringify(url.replace(/^http:\/\//, ''))}`
  }
  if (c.advertise === '' && (c.host === '0.0.0.0' || c.host === '::' || c.host === '')) {
    return `advertise is needed in a cluster when host is ${c.host || 'empty'}: the other brokers and the clients must be told an address that reaches this one`
  }
  return undefined
}
