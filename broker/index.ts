/**
 * startBroker: the whole broker in this process — gateway on the main thread,
 * partition workers in worker threads. Used by `skiff broker` and by tests
 * (port 0 and a temp data dir give an isolated broker).
 */
import fs from 'node:fs'
import path from 'node:path'
import { SkiffError } from '../protocol/index.js'
import { resolveConfig, type BrokerConfig } from './config.js'
import { createLogger, type Logger } from './logger.js'
import { WorkerPool } from './gateway/pool.js'
import { TopicRegistry } from './gateway/topics.js'
import { Gateway } from './gateway/server.js'
import { UdpTelemetry } from './gateway/udp/index.js'
import { brokerView } from './gateway/broker-view.js'
import { Responders } from './gateway/responders.js'
import type { GatewayContext } from './gateway/context.js'
import { dataDirId } from './data-dir-id.js'
import { ClusterNode } from './cluster/cluster-node.js'
import { ClusterTopics } from './gateway/cluster-topics.js'
import { PeerForwarder } from './cluster/peer-forward.js'
import type { Connection } from './gateway/connection.js'
import { VERSION } from './version.js'
import { Observability } from './observability/index.js'
import { Authenticator } from './auth/authenticator.js'
import { reloadSecurity } from './auth/reload.js'
import { anonymousExposure } from './auth/config-check.js'
import { tlsEnabled } from './auth/tls-acceptor.js'
import { releaseWhenIdle } from './memory/idle-release.js'

export type { BrokerConfig } from './config.js'
export { logStream } from './logger.js'

export interface RunningBroker {
  port: number
  host: string
  dataDir: string
  config: BrokerConfig
  logger: Logger
  /** The HTTP port (/metrics, /healthz, /readyz). */
  httpPort: number
  /** The UDP telemetry port; undefined when UDP is off. */
  udpPort: number | undefined
  /** The worker module the worker threads run (main.js beside a build, main.ts from source). */
  workerFile: string
  /** Drain in-flight publishes, save group state, close every connection. */
  close(): Promise<void>
}

export async function startBroker(opts: Partial<BrokerConfig> = {}): Promise<RunningBroker> {
  const config = resolveConfig(opts)
  config.dataDir = path.resolve(config.dataDir)
  const logger = createLogger(config.logLevel)
  fs.mkdirSync(config.dataDir, { recursive: true })
  // Read before anything starts: a bad auth file stops the broker here.
  const auth = new Authenticator(config.authFile, { maxFailedLoginsPerIp: config.maxFailedLoginsPerIp })
  // HTTP first: /healthz answers and /readyz says 503 while the rest starts.
  const obs = await Observability.start(config, logger)

  const topics = new TopicRegistry(config)
  topics.load((msg, fields) => logger.warn(fields, msg))
  const connections = new Map<number, Connection>()
  const pool = new WorkerPool(
    config.workers,
    {
      dataDir: config.dataDir,
      fsync: config.fsync,
      groupCommitMs: config.groupCommitMs,
      retentionCheckMs: config.retentionCheckMs,
      maxFrame: config.maxFrame,
    },
    {
      out: (conn, bytes) => connections.get(conn)?.send(bytes),
      topic: (c) => void topics.add(c).catch((err: unknown) => logger.warn({ topic: c.topic, err: (err as Error).message }, 'dead-letter topic not registered in the cluster')),
      metrics: (op) => obs.onWorkerOp(op),
      followed: (positions) => ctx.cluster?.replicator.followed(positions),
    },
    logger,
  )
  await pool.start().catch(async (err: unknown) => {
    await obs.close()
    throw err
  })
  const dirId = dataDirId(config.dataDir)
  // A single broker is broker 0 of a cluster of one named by its data directory (gateway/context.ts).
  const identity = config.cluster ? { brokerId: config.brokerId, clusterId: config.clusterName } : { brokerId: 0, clusterId: dirId }
  const ctx: GatewayContext = { config, logger, pool, topics, connections, responders: new Responders(), metrics: obs.metrics, auth, identity, cluster: undefined, draining: false }
  const gateway = new Gateway(ctx)
  let address
  let udp: UdpTelemetry | undefined
  try {
    if (config.cluster) {
      // The cluster node exists before the gateway accepts anything: a connection accepted while
      // ctx.cluster was unset would be served as a single broker's, whose publishes are confirmed
      // without replication (when the node was made after listen() with an await in between, that
      // lost confirmed records across kill-all in the fault suite, seed 20261209). Until its view
      // is whole, publishes and subscribes wait for it and every partition answers
      // PARTITION_UNAVAILABLE (retriable). Its port goes into its registration, at start().
      const node = new ClusterNode({ config, port: () => address!.port, dirId, topics: new ClusterTopics(ctx), log: (level, msg, fields) => logger[level](fields ?? {}, msg) })
      ctx.cluster = node
      topics.coordinator = node
    }
    address = await gateway.listen()
    if (ctx.cluster) {
      // Every series names its broker, so one Prometheus can scrape the whole cluster.
      obs.metrics.registry.setDefaultLabels({ broker: String(config.brokerId) })
      await ctx.cluster.start()
      const peerTls = tlsEnabled(config) ? { ca: config.tlsCa || undefined, cert: config.tlsCert, key: config.tlsKey } : undefined
      const forwarder = new PeerForwarder({ node: ctx.cluster, config, auth, registry: obs.metrics.registry, tls: peerTls, log: (level, msg, fields) => logger[level](fields ?? {}, msg) })
      ctx.responders.forwarder = forwarder
      ctx.cluster.startReplication(pool, (id) => forwarder.linkTo(id))
      logger.info({ cluster: config.clusterName, brokerId: config.brokerId, brokers: ctx.cluster.view.brokers.size, topics: ctx.cluster.view.topics.size }, 'joined the cluster')
    }
    udp = await UdpTelemetry.start(ctx, address)
    obs.attach(brokerView(ctx))
  } catch (err) {
    void gateway.stopAccepting()
    await ctx.cluster?.stop()
    await udp?.close()
    await pool.stop()
    await obs.close()
    throw err
  }
  logger.info(
    { version: VERSION, host: address.address, port: address.port, httpPort: obs.httpPort, udpPort: udp?.port, dataDir: config.dataDir, workers: config.workers, fsync: config.fsync, topics: topics.list().length },
    'listening',
  )

  logger.info({ authFile: config.authFile || undefined, users: auth.users().length, tls: tlsEnabled(config), clientCertificates: config.tlsVerifyClients ? 'required' : config.tlsCa ? 'optional' : 'no' }, 'security')
  if (anonymousExposure(config)) {
    logger.warn({ host: config.host }, 'no auth file and --allow-anonymous: anyone who can reach this port may publish, read and delete everything')
  }
  // SIGHUP re-reads the auth file and the TLS files without dropping connections (auth/reload.ts).
  // Without either, SIGHUP keeps its default meaning (the terminal went away: exit).
  const onHangup = () => reloadSecurity({ auth, logger, connections: connections.values(), reloadTls: gateway.reloadTls })
  if (auth.enabled || tlsEnabled(config)) process.on('SIGHUP', onHangup)

  // The gateway thread's part of giving memory back when idle (memory/idle-release.ts).
  const idleRelease = releaseWhenIdle()
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      idleRelease.stop()
      process.off('SIGHUP', onHangup)
      ctx.draining = true
      // Leave the cluster first: the registration goes with its lease at once, not a TTL later.
      await ctx.cluster?.stop()
      ctx.responders.forwarder?.close()
      obs.drain()
      const udpClosed = udp?.close()
      const listenerClosed = gateway.stopAccepting()
      for (const c of connections.values()) c.pauseReading()
      const deadline = Date.now() + config.drainTimeoutMs
      while (pool.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      gateway.closeAll(new SkiffError('SHUTTING_DOWN', 'the broker is shutting down'))
      await pool.stop()
      await listenerClosed
      await udpClosed
      await obs.close()
      logger.info({ unanswered: pool.pending }, 'stopped')
      logger.flush()
    })())

  return { port: address.port, host: address.address, httpPort: obs.httpPort, udpPort: udp?.port, dataDir: config.dataDir, workerFile: pool.workerFile, config, logger, close }
}
