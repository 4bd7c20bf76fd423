/**
 * What a handler (handlers/*.ts) uses of the connection its frame came on,
 * and of the gateway's shared state. Connection (connection.ts) implements
 * it over a socket; a handler knows nothing more, so it can be driven
 * in-process by anything that records the frames it is sent (the handler
 * tests under test/broker/handlers/ do).
 *
 * Everything here was already what the handlers read: the frames out (send,
 * error), who the peer is (user, checked by auth/guard.ts), what it holds
 * (subscriptions, served topics) and what it counts against the publish
 * budgets. Framing, pausing, timeouts and the socket's life stay inside
 * Connection.
 */
import type { Socket } from 'node:net'
import type { SkiffError } from '../../protocol/index.js'
import type { Identity } from '../auth/authenticator.js'
import type { GuardedConnection } from '../auth/guard.js'
import type { BrokerConfig } from '../config.js'
import type { Logger } from '../logger.js'
import type { ToWorker } from '../thread-messages.js'
import type { BrokerMetrics } from '../observability/metrics.js'
import type { Authenticator } from '../auth/authenticator.js'
import type { WorkerPool } from './pool.js'
import type { TopicRegistry } from './topics.js'
import type { Responders } from './responders.js'
import type { ClusterNode } from '../cluster/cluster-node.js'

export interface ConnSubscription {
  topic: string
  /** For an ephemeral subscription, the name the broker gave its group. */
  group: string
  partitions: number
  /** The partitions it covers, when not all of them (a SUBSCRIBE naming partitions; a cluster's share). */
  only?: ReadonlySet<number>
  ephemeral?: boolean
  /** What each partition's owner was asked (the 'sub' op without routing), so partitions added later (TOPIC_ALTER) can join. */
  spec?: Omit<Extract<ToWorker, { t: 'sub' }>, 't' | 'id' | 'partition'>
}

/**
 * The gateway's shared state as a handler sees it, every connection through
 * this same interface (GatewayContext in context.ts is this with the
 * connections themselves).
 */
/**
 * A single broker is broker 0 of a cluster of one, whose id is its data
 * directory's (data-dir-id.ts): one client code path serves it and a cluster.
 */
export interface BrokerIdentity {
  brokerId: number
  clusterId: string
}

export interface HandlerContext {
  readonly config: BrokerConfig
  readonly logger: Logger
  readonly pool: WorkerPool
  readonly topics: TopicRegistry
  readonly connections: ReadonlyMap<number, HandlerConnection>
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

export interface HandlerConnection extends GuardedConnection {
  readonly id: number
  readonly ctx: HandlerContext
  /** Who HELLO proved the peer to be (anonymous when auth is off); undefined before HELLO. */
  user: Identity | undefined
  /** True once the connection ended: a late answer is dropped, a late subscription not set up. */
  readonly closed: boolean
  /** Subscriptions by the client's id. */
  readonly subs: Map<number, ConnSubscription>
  /** Topics this connection answers requests on. */
  readonly served: Set<string>
  /** This end of the socket: the address the peer dialled (METADATA tells it back). */
  readonly local: { host: string | undefined; port: number | undefined }
  /** Write one encoded frame. */
  send(bytes: Uint8Array): void
  /** Write one encoded frame given in pieces (one vectored write; the pieces are not copied unless a view would pin a much larger buffer). */
  sendChunks(chunks: readonly Uint8Array[]): void
  /** Answer with an ERROR frame (corr when it answers a request); a fatal error also closes. */
  error(err: SkiffError, corr?: number): void
  /** Publish backpressure: `bytes` went to the workers, and came back answered. */
  publishStarted(bytes: number): void
  publishEnded(bytes: number): void
}

/** What HELLO needs beyond that: the handshake's state and the socket it authenticates. */
export interface HandshakeConnection extends HandlerConnection {
  ready: boolean
  clientName: string
  /** host:port of the peer, for the log. */
  readonly remote: string
  /** Its address (login budgets per IP), its TLS certificate, and its close (which aborts a queued check). */
  readonly socket: Socket
  /** The frame decoder's limit, raised from the pre-handshake one once HELLO succeeds. */
  readonly decoder: { maxFrame: number }
  /** Hold the frames that follow HELLO until the credentials are checked. */
  beginAuthentication(): void
  endAuthentication(): void
}
