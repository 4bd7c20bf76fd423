/**
 * One client connection on the gateway: framing, the handshake gate, the
 * connection's subscriptions, and writes with a bound on pending output.
 * A protocol error here closes this connection only.
 */
import type { Socket } from 'node:net'
import { FrameDecoder, SkiffError, encodeError } from '../../protocol/index.js'
import type { GatewayContext } from './context.js'
import type { Identity } from '../auth/authenticator.js'
import { dispatch } from './dispatch.js'

/** Until HELLO succeeds, a frame may not exceed this (a stranger cannot make us buffer 1 MiB). */
export const PRE_AUTH_MAX_FRAME = 64 * 1024

export interface ConnSubscription {
  topic: string
  group: string
  partitions: number
}

let nextConnectionId = 1

export class Connection {
  readonly id = nextConnectionId++
  readonly decoder = new FrameDecoder(PRE_AUTH_MAX_FRAME)
  readonly subs = new Map<number, ConnSubscription>()
  /** Topics this connection answers requests on. */
  readonly served = new Set<string>()
  lastSeen = Date.now()
  ready = false
  /** Who HELLO proved this connection to be (anonymous when auth is off). */
  user: Identity | undefined = undefined
  /** True while HELLO's credentials are being checked: no frame is dispatched meanwhile. */
  private authenticating = false
  clientName = ''
  closed = false
  /** Bytes of publishes sent to workers and not yet answered. */
  pendingPublishBytes = 0
  private readPaused = false

  constructor(
    readonly ctx: GatewayContext,
    readonly socket: Socket,
    /** When the TCP connection was accepted (for TLS: before the handshake); the auth timeout counts from here. */
    readonly connectedAt = Date.now(),
  ) {
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => {}) // reset by peer and the like: 'close' follows
    socket.on('close', () => this.onClose())
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`
  }

  private onData(chunk: Buffer): void {
    this.ctx.metrics.bytesReceived += chunk.length
    if (this.closed) return
    this.lastSeen = Date.now()
    this.decoder.push(chunk)
    this.dispatchFrames()
  }

  private dispatchFrames(): void {
    try {
      for (let f = this.nextFrame(); f && !this.closed; f = this.nextFrame()) dispatch(this, f)
    } catch (err) {
      // Only framing errors reach here (handlers report their own): the stream is unusable.
      this.fail(err instanceof SkiffError ? err : new SkiffError('BAD_FRAME', String(err)))
    }
  }

  private nextFrame(): ReturnType<FrameDecoder['next']> {
    return this.authenticating ? null : this.decoder.next()
  }

  /**
   * Hold frames (and stop reading) while HELLO's credentials are checked off
   * the event loop, so nothing a client pipelines after HELLO runs before it
   * is known who the client is; `endAuthentication` dispatches what waited.
   */
  beginAuthentication(): void {
    this.authenticating = true
    this.socket.pause()
  }

  endAuthentication(): void {
    if (!this.authenticating) return
    this.authenticating = false
    if (this.closed) return
    if (!this.readPaused) this.socket.resume()
    this.dispatchFrames()
  }

  send(bytes: Uint8Array): void {
    if (this.closed) return
    if (this.socket.writableLength > this.ctx.config.maxPendingBytes) {
      this.ctx.logger.warn({ conn: this.id, client: this.clientName, pending: this.socket.writableLength }, 'slow consumer disconnected')
      this.fail(new SkiffError('SLOW_CONSUMER', `more than ${this.ctx.config.maxPendingBytes} bytes waiting to be written`))
      return
    }
    this.ctx.metrics.bytesSent += bytes.length
    this.socket.write(bytes)
  }

  /** Answer a request with an error; fatal errors also close the connection. */
  error(err: SkiffError, corr?: number): void {
    if (err.fatal) return this.fail(err, corr)
    this.ctx.metrics.protocolError(err.codeName)
    this.send(encodeError(err, corr))
  }

  /** Send a final ERROR and close. */
  fail(err: SkiffError, corr?: number): void {
    if (this.closed) return
    this.ctx.metrics.protocolError(err.codeName)
    if (err.codeName !== 'SLOW_CONSUMER') {
      const frame = encodeError(err, corr)
      this.ctx.metrics.bytesSent += frame.length
      this.socket.write(frame)
    }
    this.ctx.logger.info({ conn: this.id, client: this.clientName, remote: this.remote, code: err.codeName, reason: err.message }, 'connection closed by broker')
    this.close()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.socket.end()
    // Give the final frame a moment to leave, then make sure the socket is gone.
    setTimeout(() => this.socket.destroy(), 200).unref()
    this.onClose()
  }

  private released = false
  private onClose(): void {
    this.closed = true
    if (this.released) return
    this.released = true
    this.ctx.connections.delete(this.id)
    if (this.subs.size > 0) this.ctx.pool.broadcast({ t: 'gone', conn: this.id })
    this.ctx.responders.connectionGone(this)
    this.subs.clear()
  }

  /** Publish backpressure: stop reading while too many bytes await confirms. */
  publishStarted(bytes: number): void {
    this.pendingPublishBytes += bytes
    if (!this.readPaused && this.pendingPublishBytes > this.ctx.config.maxConnectionPublishBytes) {
      this.readPaused = true
      this.socket.pause()
    }
  }

  publishEnded(bytes: number): void {
    this.pendingPublishBytes -= bytes
    if (this.readPaused && this.pendingPublishBytes <= this.ctx.config.maxConnectionPublishBytes / 2 && !this.ctx.draining) {
      this.readPaused = false
      this.socket.resume()
    }
  }

  pauseReading(): void {
    this.readPaused = true
    this.socket.pause()
  }
}
