/** What every connection and handler of the gateway shares. */
import type { ClusterNode } from '../cluster/cluster-node.js'
import type { BrokerConfig } from '../config.js'
import type { Logger } from '../logger.js'
import type { WorkerPool } from './pool.js'
import type { TopicRegistry } from './topics.js'
import type { Connection } from './connection.js'
import type { Responders } from './responders.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import type { Authenticator } from '../auth/authenticator.js'

/**
 * A single broker is broker 0 of a cluster of one, whose id is its data
 * directory's (data-dir-id.ts): one client code path serves it and a cluster.
 */
export interface BrokerIdentity {
  brokerId: number
  clusterId: string
}

export interface GatewayContext {
  readonly config: BrokerConfig
  readonly logger: Logger
  readonly pool: WorkerPool
  readonly topics: TopicRegistry
  readonly connections: Map<number, Connection>
  /** Request/reply routing (gateway only). */
  readonly responders: Responders
  /** Prometheus metrics (observability/metrics.ts). */
  readonly metrics: BrokerMetrics
  /** Who a connection is and what it may do (auth/authenticator.ts). */
  readonly auth: Authenticator
  /** Which broker this is, in which cluster (WELCOME and METADATA say so). */
  readonly identity: BrokerIdentity
  /** This broker as a member of a cluster (cluster/cluster-node.ts); undefined for a single broker. */
  cluster: ClusterNode | undefined
  /** True once shutdown began: new requests get SHUTTING_DOWN. */
  draining: boolean
}
