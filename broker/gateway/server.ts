/**
 * The TCP listener and the connection housekeeping: the auth timeout for
 * sockets that never complete HELLO, and the idle timeout for peers that go
 * silent (clients PING every heartbeat, so a live idle client is never dropped).
 * Connection limits (global and per IP) are taken at accept, before TLS or
 * HELLO; with tlsCert/tlsKey the port speaks TLS (auth/tls-acceptor.ts).
 *
 * The auth timeout holds to 1.25 x authTimeoutMs (documented: 2.5 s for the
 * 2 s default) even when hundreds of sockets arrive at once. Two things made
 * a burst's sockets close up to 3.5 s after they connected: the listen
 * backlog was Node's default 511, so the kernel dropped the SYNs of a larger
 * burst and the clients sent them again a second later (TCP's initial
 * retransmission timeout); and the deadline was checked by a sweep every
 * quarter of the timeout, so a socket lived up to 1.25 x the timeout plus the
 * time to sweep. Now the backlog is as deep as the connection limit (the
 * kernel caps it at net.core.somaxconn), and each connection has a timer of
 * its own until HELLO, firing at its deadline.
 */
import { AUTH_TIMEOUT } from '../../protocol/frames/hello.js'
import net from 'node:net'
import type tls from 'node:tls'
import { SkiffError, encodeError } from '../../protocol/index.js'
import { Connection } from './connection.js'
import type { GatewayContext } from './context.js'
import { GatewayBudgets } from './budgets.js'
import { ConnectionLimiter } from '../auth/connection-limiter.js'
import { TlsAcceptor, tlsEnabled } from '../auth/tls-acceptor.js'

export class Gateway {
  private server: net.Server | undefined
  private sweeper: NodeJS.Timeout | undefined
  readonly limiter: ConnectionLimiter
  /** The broker-wide budgets every connection counts against (budgets.ts). */
  readonly budgets: GatewayBudgets
  private readonly tls: TlsAcceptor | undefined

  constructor(private readonly ctx: GatewayContext) {
    this.limiter = new ConnectionLimiter(ctx.config)
    this.budgets = new GatewayBudgets(ctx.config, () => ctx.connections.values(), (fields, msg) => ctx.logger.warn(fields, msg))
    ctx.metrics.gatewayBudgets = () => this.budgets.totals()
    this.tls = tlsEnabled(ctx.config)
      ? new TlsAcceptor(
          ctx.config,
          (socket, acceptedAt) => this.open(socket, acceptedAt),
          (err, remote) => ctx.logger.info({ remote, err: err.message }, 'TLS handshake failed'),
        )
      : undefined
  }

  /** Re-read the TLS certificate files (SIGHUP); undefined without TLS. */
  get reloadTls(): (() => void) | undefined {
    const acceptor = this.tls
    return acceptor && (() => acceptor.reload())
  }

  async listen(): Promise<net.AddressInfo> {
    const { config } = this.ctx
    const server = net.createServer((socket) => this.accept(socket))
    this.server = server
    // A burst deeper than the backlog loses SYNs, and their clients retry a second later (see the header comment).
    const backlog = Math.max(511, Math.min(65535, config.maxConnections > 0 ? config.maxConnections : 65535))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port: config.port, host: config.host, backlog }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => this.ctx.logger.error({ err: err.message }, 'listener error'))
    // A quarter of the idle timeout: a silent peer lives at most 1.25 x idleTimeoutMs.
    const every = Math.max(50, Math.min(1000, config.heartbeatMs, config.idleTimeoutMs > 0 ? config.idleTimeoutMs / 4 : 1000))
    this.sweeper = setInterval(() => this.sweep(), every)
    this.sweeper.unref()
    return server.address() as net.AddressInfo
  }

  private accept(socket: net.Socket): void {
    const acceptedAt = Date.now()
    const ip = socket.remoteAddress
    socket.on('error', () => {})
    const refused = this.limiter.admit(ip)
    if (refused) {
      this.ctx.logger.warn({ remote: ip, reason: refused.message }, 'connection refused')
      // A TLS client could not read a plaintext ERROR: it sees the connection close.
      if (this.tls) socket.destroy()
      else socket.end(encodeError(refused))
      setTimeout(() => socket.destroy(), 200).unref()
      return
    }
    socket.once('close', () => this.limiter.release(ip))
    if (this.tls) this.tls.accept(socket, acceptedAt)
    else this.open(socket, acceptedAt)
  }

  private open(socket: net.Socket | tls.TLSSocket, acceptedAt: number): void {
    const conn = new Connection(this.ctx, this.budgets, socket, acceptedAt)
    this.ctx.connections.set(conn.id, conn)
    this.authDeadline(conn)
  }

  /** Close `conn` at its auth deadline unless HELLO succeeded by then (a timer per connection, see the header comment). */
  private authDeadline(conn: Connection): void {
    const { authTimeoutMs } = this.ctx.config
    const timer = setTimeout(
      () => {
        if (!conn.ready && !conn.closed) conn.fail(new SkiffError('UNAUTHORIZED', `no valid HELLO within ${authTimeoutMs} ms`, { details: { reason: AUTH_TIMEOUT } }))
      },
      Math.max(0, conn.connectedAt + authTimeoutMs - Date.now()),
    )
    timer.unref()
    conn.socket.once('close', () => clearTimeout(timer))
  }

  private sweep(): void {
    const now = Date.now()
    const { idleTimeoutMs } = this.ctx.config
    for (const conn of this.ctx.connections.values()) {
      if (conn.ready && idleTimeoutMs > 0 && !conn.readingPaused && now - conn.lastSeen > idleTimeoutMs) {
        conn.fail(new SkiffError('IDLE_TIMEOUT', `no complete frame received for ${idleTimeoutMs} ms`))
      } else if (conn.ready && conn.user) {
        // A user whose entry expired is cut off even if it only receives.
        const expired = this.ctx.auth.check(conn.user, now)
        if (expired) conn.fail(expired)
      }
    }
  }

  /**
   * Stop accepting connections at once. The promise settles when the last
   * existing connection is gone too (after closeAll), so do not await it first.
   */
  async stopAccepting(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper)
    const server = this.server
    if (!server) return
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  closeAll(err: SkiffError): void {
    for (const conn of [...this.ctx.connections.values()]) conn.fail(err)
    this.tls?.destroyPending()
  }
}
