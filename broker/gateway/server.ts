/**
 * The TCP listener and the connection housekeeping: the auth timeout for
 * sockets that never complete HELLO, and the idle timeout for peers that go
 * silent (clients PING every heartbeat, so a live idle client is never dropped).
 */
import net from 'node:net'
import { SkiffError } from '../../protocol/index.js'
import { Connection } from './connection.js'
import type { GatewayContext } from './context.js'

export class Gateway {
  private server: net.Server | undefined
  private sweeper: NodeJS.Timeout | undefined

  constructor(private readonly ctx: GatewayContext) {}

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
    const every = Math.max(50, Math.min(1000, config.heartbeatMs, config.authTimeoutMs / 2))
    this.sweeper = setInterval(() => this.sweep(), every)
    this.sweeper.unref()
    return server.address() as net.AddressInfo
  }

  private accept(socket: net.Socket): void {
    const conn = new Connection(this.ctx, socket)
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
  }
}
