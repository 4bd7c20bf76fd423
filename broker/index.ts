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
import { Responders } from './gateway/responders.js'
import type { GatewayContext } from './gateway/context.js'
import type { Connection } from './gateway/connection.js'
import { VERSION } from './version.js'

export type { BrokerConfig } from './config.js'

export interface RunningBroker {
  port: number
  host: string
  dataDir: string
  config: BrokerConfig
  logger: Logger
  /** Drain in-flight publishes, save group state, close every connection. */
  close(): Promise<void>
}

export async function startBroker(opts: Partial<BrokerConfig> = {}): Promise<RunningBroker> {
  const config = resolveConfig(opts)
  config.dataDir = path.resolve(config.dataDir)
  const logger = createLogger(config.logLevel)
  fs.mkdirSync(config.dataDir, { recursive: true })

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
      topic: (c) => topics.add(c),
    },
    logger,
  )
  await pool.start()
  const ctx: GatewayContext = { config, logger, pool, topics, connections, responders: new Responders(), draining: false }
  const gateway = new Gateway(ctx)
  let address
  try {
    address = await gateway.listen()
  } catch (err) {
    await pool.stop()
    throw err
  }
  logger.info(
    { version: VERSION, host: address.address, port: address.port, dataDir: config.dataDir, workers: config.workers, fsync: config.fsync, topics: topics.list().length },
    'listening',
  )

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      ctx.draining = true
      const listenerClosed = gateway.stopAccepting()
      for (const c of connections.values()) c.pauseReading()
      const deadline = Date.now() + config.drainTimeoutMs
      while (pool.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      gateway.closeAll(new SkiffError('SHUTTING_DOWN', 'the broker is shutting down'))
      await pool.stop()
      await listenerClosed
      logger.info({ unanswered: pool.pending }, 'stopped')
      logger.flush()
    })())

  return { port: address.port, host: address.address, dataDir: config.dataDir, config, logger, close }
}
