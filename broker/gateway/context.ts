/** What every connection and handler of the gateway shares. */
import type { BrokerConfig } from '../config.js'
import type { Logger } from '../logger.js'
import type { WorkerPool } from './pool.js'
import type { TopicRegistry } from './topics.js'
import type { Connection } from './connection.js'
import type { Responders } from './responders.js'
import type { BrokerMetrics } from '../observability/metrics.js'

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
  /** True once shutdown began: new requests get SHUTTING_DOWN. */
  draining: boolean
}
