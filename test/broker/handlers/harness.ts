/**
 * Driving the gateway's handlers in-process, without a socket. The context is
 * the real one startBroker composes (config, topic registry, worker pool on a
 * temp data dir, responders, metrics, authenticator); only the socket side of
 * a connection is stood in for, by TestConnection: it keeps every frame it
 * is sent, decoded, and hands frames to the real dispatcher (dispatch.ts),
 * which refuses anything before HELLO and turns a handler's error into the
 * ERROR frame the client would read.
 */
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { FrameDecoder, Op, SUPPORTED_VERSIONS, decodeError, encodeError, encodeHello, type Frame, type SkiffError } from '../../../protocol/index.js'
import { resolveConfig, type BrokerConfig } from '../../../broker/config.js'
import { createLogger } from '../../../broker/logger.js'
import { WorkerPool } from '../../../broker/gateway/pool.js'
import { TopicRegistry } from '../../../broker/gateway/topics.js'
import { Responders } from '../../../broker/gateway/responders.js'
import { PRE_AUTH_MAX_FRAME } from '../../../broker/gateway/connection.js'
import { dispatch, type DispatchedConnection } from '../../../broker/gateway/dispatch.js'
import type { ConnSubscription, HandlerConnection, HandlerContext } from '../../../broker/gateway/handler-connection.js'
import { BrokerMetrics } from '../../../broker/observability/metrics.js'
import { Authenticator, type Identity } from '../../../broker/auth/authenticator.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestGateway {
  ctx: HandlerContext
  /** The context's connection table, writable: a TestConnection joins it so deliveries and broker notices reach it. */
  connections: Map<number, HandlerConnection>
  /** A new connection, not yet through HELLO. */
  connect(): TestConnection
  /** A new connection through HELLO (anonymous, or as `user` with `token` when there is an auth file). */
  login(user?: string, token?: string): Promise<TestConnection>
}

/**
 * The gateway's context over a fresh temp data dir and `workers` worker
 * threads (started here, stopped and removed by t.teardown). `users` writes
 * an auth file, which switches authentication and ACLs on.
 */
export async function testGateway(t: Teardown, opts: { users?: object[]; config?: Partial<BrokerConfig> } = {}): Promise<TestGateway> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-handlers-'))
  let authFile = ''
  if (opts.users) {
    authFile = path.join(dataDir, 'users.json')
    fs.writeFileSync(authFile, JSON.stringify({ users: opts.users }))
  }
  const config = resolveConfig({ port: 0, workers: 1, logLevel: 'silent', ...opts.config, dataDir, authFile })
  const logger = createLogger(config.logLevel)
  const metrics = new BrokerMetrics({ maxMetricTopics: config.maxMetricTopics, maxMetricGroups: config.maxMetricGroups, warn: () => {} })
  const topics = new TopicRegistry(config)
  topics.load(() => {})
  const connections = new Map<number, HandlerConnection>()
  const pool = new WorkerPool(
    config.workers,
    { dataDir, fsync: config.fsync, groupCommitMs: config.groupCommitMs, retentionCheckMs: config.retentionCheckMs, maxFrame: config.maxFrame },
    {
      out: (conn, bytes) => connections.get(conn)?.send(bytes),
      topic: (c) => topics.add(c),
      metrics: (op) => (op.t === 'metrics' ? metrics.applyDeltas(op.deltas) : metrics.applyGauges(op.gauges)),
    },
    logger,
  )
  await pool.start()
  t.teardown(async () => {
    await pool.stop()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  const auth = new Authenticator(authFile, { maxFailedLoginsPerIp: config.maxFailedLoginsPerIp })
  const ctx: HandlerContext = { config, logger, pool, topics, connections, responders: new Responders(), metrics, auth, identity: { brokerId: 0, clusterId: 'handler-tests' }, cluster: undefined, draining: false }
  const connect = () => new TestConnection(ctx, connections)
  return {
    ctx,
    connections,
    connect,
    async login(user, token) {
      const c = connect()
      const welcome = await c.exchange(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'handler-test', user, token }))
      if (welcome.opcode !== Op.WELCOME) throw new Error(`HELLO as ${user ?? 'anonymous'} was refused: ${decodeError(welcome.body).message}`)
      return c
    },
  }
}

let nextId = 1_000_000

/**
 * The socket side of a connection, kept in memory: what Connection writes to
 * its socket is decoded into `frames`; an ERROR goes out the way Connection
 * sends one, and a fatal one (or fail) closes. Nothing of the handlers'
 * logic is replaced: frames go through the real dispatcher.
 */
export class TestConnection implements DispatchedConnection {
  readonly id = nextId++
  readonly subs = new Map<number, ConnSubscription>()
  readonly served = new Set<string>()
  readonly frames: Frame[] = []
  user: Identity | undefined = undefined
  ready = false
  clientName = ''
  closed = false
  pendingPublishBytes = 0
  readonly remote = 'in-process'
  /** Never connected: no peer address, no TLS certificate; its 'close' is what HELLO listens for. */
  readonly socket = new net.Socket()
  /** As a connection to a broker on loopback port 7600 would say. */
  readonly local = { host: '127.0.0.1' as string | undefined, port: 7600 as number | undefined }
  readonly decoder = { maxFrame: PRE_AUTH_MAX_FRAME }
  private readonly out = new FrameDecoder(64 * 1024 * 1024)
  private waiters: (() => void)[] = []

  constructor(
    readonly ctx: HandlerContext,
    private readonly table: Map<number, HandlerConnection>,
  ) {
    table.set(this.id, this)
  }

  /** One encoded frame from the client, dispatched as Connection would (one call per frame). */
  receive(bytes: Uint8Array): void {
    const d = new FrameDecoder(this.decoder.maxFrame)
    d.push(Buffer.from(bytes))
    for (let f = d.next(); f; f = d.next()) dispatch(this, { opcode: f.opcode, body: Buffer.from(f.body) })
  }

  /** Send `bytes` and wait for the next frame that comes back (or closes: then the last frame). */
  async exchange(bytes: Uint8Array, timeoutMs = 5000): Promise<Frame> {
    const from = this.frames.length
    this.receive(bytes)
    const f = await this.next(from, timeoutMs)
    if (!f) throw new Error(`no answer within ${timeoutMs} ms`)
    return f
  }

  /** The first frame at or after index `from` that matches, waiting up to `timeoutMs` for it. */
  async next(from = this.frames.length, timeoutMs = 5000, match: (f: Frame) => boolean = () => true): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const f = this.frames.slice(from).find(match)
      if (f || Date.now() > deadline) return f
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  send(bytes: Uint8Array): void {
    if (this.closed) return
    this.out.push(Buffer.from(bytes))
    for (let f = this.out.next(); f; f = this.out.next()) this.frames.push({ opcode: f.opcode, body: Buffer.from(f.body) })
    const w = this.waiters
    this.waiters = []
    for (const wake of w) wake()
  }

  sendChunks(chunks: readonly Uint8Array[]): void {
    this.send(Buffer.concat(chunks))
  }

  error(err: SkiffError, corr?: number): void {
    if (err.fatal) return this.fail(err, corr)
    this.send(encodeError(err, corr))
  }

  fail(err: SkiffError, corr?: number): void {
    if (this.closed) return
    this.send(encodeError(err, corr))
    this.close()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.table.delete(this.id)
    if (this.subs.size > 0) this.ctx.pool.broadcast({ t: 'gone', conn: this.id })
    this.ctx.responders.connectionGone(this)
    this.socket.destroy()
  }

  publishStarted(bytes: number): void {
    this.pendingPublishBytes += bytes
  }

  publishEnded(bytes: number): void {
    this.pendingPublishBytes -= bytes
  }

  beginAuthentication(): void {}
  endAuthentication(): void {}
}

/** The ERROR frame's body, or a failure naming what came instead. */
export function errorOf(f: Frame): ReturnType<typeof decodeError> {
  if (f.opcode !== Op.ERROR) throw new Error(`expected ERROR, got opcode 0x${f.opcode.toString(16)}`)
  return decodeError(f.body)
}
