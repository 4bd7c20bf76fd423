/**
 * The TCP listener and the connection housekeeping: the auth timeout for
 * sockets that never complete HELLO, and the idle timeout for peers that go
 * silent (clients PING every heartbeat, so a live idle client is never dropped).
 * Connection limits (global and per IP) are taken at accept, before TLS or
 * HELLO; with tlsCert/tlsKey the port speaks TLS (auth/tls-acceptor.ts).
 */
import net from 'node:net'
import type tls from 'node:tls'
import { SkiffError, encodeError } from '../../protocol/index.js'
import { Connection } from './connection.js'
import type { GatewayContext } from './context.js'
import { ConnectionLimiter } from '../auth/connection-limiter.js'
import { TlsAcceptor, tlsEnabled } from '../auth/tls-acceptor.js'

export class Gateway {
  private server: net.Server | undefined
  private sweeper: NodeJS.Timeout | undefined
  readonly limiter: ConnectionLimiter
  private readonly tls: TlsAcceptor | undefined

  constructor(private readonly ctx: GatewayContext) {
    this.limiter = new ConnectionLimiter(ctx.config)
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
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.port, config.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => this.ctx.logger.error({ err: err.message }, 'listener error'))
    // A quarter of the auth timeout: a silent socket lives at most 1.25 x authTimeoutMs.
    const every = Math.max(50, Math.min(1000, config.heartbeatMs, config.authTimeoutMs / 4))
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
    const conn = new Connection(this.ctx, socket, acceptedAt)
    this.ctx.connections.set(conn.id, conn)
  }

  private sweep(): void {
    const now = Date.now()
    const { authTimeoutMs, idleTimeoutMs } = this.ctx.config
    for (const conn of this.ctx.connections.values()) {
      if (!conn.ready && now - conn.connectedAt > authTimeoutMs) {
        conn.fail(new SkiffError('UNAUTHORIZED', `no valid HELLO within ${authTimeoutMs} ms`))
      } else if (conn.ready && idleTimeoutMs > 0 && now - conn.lastSeen > idleTimeoutMs) {
        conn.fail(new SkiffError('IDLE_TIMEOUT', `nothing received for ${idleTimeoutMs} ms`))
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
