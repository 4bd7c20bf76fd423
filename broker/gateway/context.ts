/** What every connection and handler of the gateway shares. */
import type { BrokerConfig } from '../config.js'
import type { Logger } from '../logger.js'
import type { WorkerPool } from './pool.js'
import type { TopicRegistry } from './topics.js'
import type { Connection } from './connection.js'
import type { Responders } from './responders.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import type { Authenticator } from '../auth/authenticator.js'

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
  /** True once shutdown began: new requests get SHUTTING_DOWN. */
  draining: boolean
}
