/**
 * One client connection on the gateway: framing, the handshake gate, the
 * connection's subscriptions, and writes with a bound on pending output.
 * A protocol error here closes this connection only.
 *
 * What it holds counts against the broker-wide budgets (budgets.ts): its
 * unsent output, the bytes its frame decoder holds for a partly received
 * frame, and its unconfirmed publishes.
 *
 * Only a complete frame is a sign of life for the idle timeout (lastSeen):
 * a byte that does not complete a frame proves nothing, and counting every
 * byte let one byte a second hold a connection (and its partial frame)
 * forever. A frame that never completes is cut at the idle timeout.
 */
import type { Socket } from 'node:net'
import { FrameDecoder, SkiffError, encodeError } from '../../protocol/index.js'
import type { GatewayContext } from './context.js'
import type { Identity } from '../auth/authenticator.js'
import type { Budgeted, GatewayBudgets } from './budgets.js'
import { dispatch } from './dispatch.js'
import type { ConnSubscription, HandshakeConnection } from './handler-connection.js'

/** Until HELLO succeeds, a frame may not exceed this (a stranger cannot make us buffer 1 MiB). */
export const PRE_AUTH_MAX_FRAME = 64 * 1024

let nextConnectionId = 1

/** Reasons the socket is not being read (bits); it is read again once none is left. */
const PAUSE_AUTHENTICATING = 1
const PAUSE_OWN_PUBLISHES = 2
const PAUSE_BROKER_PUBLISHES = 4
const PAUSE_DRAINING = 8
const PAUSE_TURN = 16

/**
 * Frames, and frame bytes, one connection may have dispatched in one go
 * before the others get a turn. A client that pipelines thousands of small
 * frames (a 64 KiB chunk holds ~1,500 refused REQUESTs) would otherwise keep
 * the gateway to itself for tens of milliseconds per chunk, and every other
 * client's PING and confirm wait behind it. Past either, the connection stops
 * being read and takes up the rest on the next turn of the event loop
 * (setImmediate: after the I/O of every other socket). A well-behaved client
 * (batched publishes, one ACK per turn) never reaches either.
 */
const FRAMES_PER_TURN = 128
/**
 * Unsent output past which a subscribing connection is congested: the
 * workers stop delivering to it until its socket drains (a few MiB: a reader
 * keeping up never queues this much; the kernel's socket buffer has taken
 * its share before anything queues here). Without it a reader that stopped
 * reading was sent its whole window of credits, up to maxPendingBytes, and
 * the workers spent their turns encoding it.
 */
const CONGESTED_BYTES = 4 * 1024 * 1024
const FRAME_BYTES_PER_TURN = 1024 * 1024

/** The handlers see it as a HandshakeConnection (handler-connection.ts). */
export class Connection implements Budgeted, HandshakeConnection {
  readonly id = nextConnectionId++
  readonly decoder = new FrameDecoder(PRE_AUTH_MAX_FRAME)
  readonly subs = new Map<number, ConnSubscription>()
  /** Topics this connection answers requests on. */
  readonly served = new Set<string>()
  /** When the last complete frame arrived (or the connection opened): the idle timeout counts from here. */
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
  /** The decoder's heldBytes as last reported to the budgets. */
  partialFrameBytes = 0
  private paused = 0
  /** True between giving up the turn and taking up the frames left (dispatchFrames). */
  private yielded = false
  /** The workers hold this connection's deliveries until its socket drains (CONGESTED_BYTES). */
  private congested = false

  constructor(
    readonly ctx: GatewayContext,
    private readonly budgets: GatewayBudgets,
    readonly socket: Socket,
    /** When the TCP connection was accepted (for TLS: before the handshake); the auth timeout counts from here. */
    readonly connectedAt = Date.now(),
  ) {
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => {}) // reset by peer and the like: 'close' follows
    socket.on('close', () => this.onClose())
  }

  get local(): { host: string | undefined; port: number | undefined } {
    return { host: this.socket.localAddress, port: this.socket.localPort }
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`
  }

  get pendingOutput(): number {
    return this.socket.writableLength
  }

  private onData(chunk: Buffer): void {
    this.ctx.metrics.bytesReceived += chunk.length
    if (this.closed) return
    this.decoder.push(chunk)
    this.dispatchFrames()
    this.reportPartialFrame()
  }

  private dispatchFrames(): void {
    let frames = 0
    let bytes = 0
    try {
      for (let f = this.nextFrame(); f && !this.closed; f = this.nextFrame()) {
        frames++
        bytes += f.body.length
        dispatch(this, f)
        if (frames === FRAMES_PER_TURN || bytes >= FRAME_BYTES_PER_TURN) {
          this.yieldTurn()
          break
        }
      }
    } catch (err) {
      // Only framing errors reach here (handlers report their own): the stream is unusable.
      this.fail(err instanceof SkiffError ? err : new SkiffError('BAD_FRAME', String(err)))
    }
    if (frames > 0) this.lastSeen = Date.now()
  }

  /** Stop reading and dispatching until the other connections had their turn (FRAMES_PER_TURN). */
  private yieldTurn(): void {
    if (this.closed) return
    this.yielded = true
    this.pause(PAUSE_TURN)
    setImmediate(() => {
      this.yielded = false
      if (this.closed) return
      this.resume(PAUSE_TURN)
      this.dispatchFrames()
      this.reportPartialFrame()
    })
  }

  /** Tell the budgets how much the decoder holds now (nothing once closed). */
  private reportPartialFrame(): void {
    const held = this.closed ? 0 : this.decoder.heldBytes
    const delta = held - this.partialFrameBytes
    if (delta === 0) return
    this.partialFrameBytes = held
    this.budgets.partialFramesChanged(delta)
  }

  private nextFrame(): ReturnType<FrameDecoder['next']> {
    return this.authenticating || this.yielded ? null : this.decoder.next()
  }

  /**
   * Hold frames (and stop reading) while HELLO's credentials are checked off
   * the event loop, so nothing a client pipelines after HELLO runs before it
   * is known who the client is; `endAuthentication` dispatches what waited.
   */
  beginAuthentication(): void {
    this.authenticating = true
    this.pause(PAUSE_AUTHENTICATING)
  }

  endAuthentication(): void {
    if (!this.authenticating) return
    this.authenticating = false
    if (this.closed) return
    this.resume(PAUSE_AUTHENTICATING)
    this.dispatchFrames()
    this.reportPartialFrame()
  }

  send(bytes: Uint8Array): void {
    if (!this.mayWrite()) return
    this.socket.write(writable(bytes, this.socket.writableLength))
    this.written(bytes.length)
  }

  sendChunks(chunks: readonly Uint8Array[]): void {
    if (!this.mayWrite()) return
    let length = 0
    // What was queued before this frame: its own earlier pieces are no backlog a piece should be copied for.
    const queued = this.socket.writableLength
    // Corked, the pieces leave in one writev, as one frame would.
    this.socket.cork()
    for (const c of chunks) {
      this.socket.write(writable(c, queued))
      length += c.length
    }
    this.socket.uncork()
    this.written(length)
  }

  /** False (and the connection failed) when a slow reader already has more than maxPendingBytes queued. */
  private mayWrite(): boolean {
    if (this.closed) return false
    if (this.socket.writableLength <= this.ctx.config.maxPendingBytes) return true
    this.ctx.logger.warn({ conn: this.id, client: this.clientName, pending: this.socket.writableLength }, 'slow consumer disconnected')
    this.fail(new SkiffError('SLOW_CONSUMER', `more than ${this.ctx.config.maxPendingBytes} bytes waiting to be written`))
    return false
  }

  private written(bytes: number): void {
    this.ctx.metrics.bytesSent += bytes
    this.budgets.outputWritten(bytes)
    if (!this.congested && this.subs.size > 0 && this.socket.writableLength > Math.min(CONGESTED_BYTES, this.ctx.config.maxPendingBytes / 4)) this.congest()
  }

  /** Tell the workers to hold this connection's deliveries until its socket drains (one op each way per episode). */
  private congest(): void {
    this.congested = true
    this.ctx.pool.broadcast({ t: 'congested', conn: this.id, on: true })
    this.socket.once('drain', () => {
      this.congested = false
      if (!this.closed) this.ctx.pool.broadcast({ t: 'congested', conn: this.id, on: false })
    })
  }

  /** Answer a request with an error; fatal errors also close the connection. */
  error(err: SkiffError, corr?: number): void {
    if (err.fatal) return this.fail(err, corr)
    this.ctx.metrics.protocolError(err.codeName)
    this.send(encodeError(err, corr))
  }

  /**
   * Send a final ERROR and close. A slow consumer gets no final frame (it
   * would queue behind what the peer does not read) and its socket is
   * destroyed at once, so the output it held is freed now.
   */
  fail(err: SkiffError, corr?: number): void {
    if (this.closed) return
    this.ctx.metrics.protocolError(err.codeName)
    const slow = err.codeName === 'SLOW_CONSUMER'
    if (!slow) {
      // Not counted in the output budget: a few bytes, on a socket destroyed within 200 ms.
      const frame = encodeError(err, corr)
      this.ctx.metrics.bytesSent += frame.length
      this.socket.write(frame)
    }
    this.ctx.logger.info({ conn: this.id, client: this.clientName, remote: this.remote, code: err.codeName, reason: err.message }, 'connection closed by broker')
    this.close(slow)
  }

  close(destroyNow = false): void {
    if (this.closed) return
    this.closed = true
    if (destroyNow) {
      this.socket.destroy()
    } else {
      this.socket.end()
      // Give the final frame a moment to leave, then make sure the socket is gone.
      setTimeout(() => this.socket.destroy(), 200).unref()
    }
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
    this.decoder.clear()
    this.reportPartialFrame()
    this.budgets.connectionGone(this)
  }

  /** Publish backpressure: stop reading while too many bytes await confirms, on this connection or in the whole broker. */
  publishStarted(bytes: number): void {
    this.pendingPublishBytes += bytes
    if (this.pendingPublishBytes > this.ctx.config.maxConnectionPublishBytes) this.pause(PAUSE_OWN_PUBLISHES)
    this.budgets.publishStarted(this, bytes)
  }

  publishEnded(bytes: number): void {
    this.pendingPublishBytes -= bytes
    if (this.pendingPublishBytes <= this.ctx.config.maxConnectionPublishBytes / 2) this.resume(PAUSE_OWN_PUBLISHES)
    this.budgets.publishEnded(bytes)
  }

  pauseForBrokerPublishes(): void {
    this.pause(PAUSE_BROKER_PUBLISHES)
  }

  resumeForBrokerPublishes(): void {
    this.resume(PAUSE_BROKER_PUBLISHES)
  }

  /** Shutdown: stop reading for good. */
  pauseReading(): void {
    this.pause(PAUSE_DRAINING)
  }

  /** True while the broker is not reading the socket, for whatever reason (the idle timeout waits meanwhile). */
  get readingPaused(): boolean {
    return this.paused !== 0
  }

  private pause(reason: number): void {
    if (this.paused === 0 && !this.closed) this.socket.pause()
    this.paused |= reason
  }

  private resume(reason: number): void {
    if ((this.paused & reason) === 0) return
    this.paused &= ~reason
    if (this.paused !== 0 || this.closed) return
    // The time the broker did not read is not the peer's silence: the idle timeout starts again.
    this.lastSeen = Date.now()
    this.socket.resume()
  }
}

/**
 * Delivery frames arrive as views into the buffer a worker transferred for
 * its whole turn (frames for many connections, up to tens of MiB when many
 * groups read a backlog). A view that the socket cannot write at once is
 * kept until it is written, and pins that whole buffer: 235 MiB of unsent
 * output held 707 MiB of buffers, and the first congested write of each slow
 * reader pinned a turn's buffer of its own (848 MiB peak). So a frame is
 * copied into a buffer of its own when it queues behind unsent output, or
 * when its view would pin more than PIN_SLACK beyond itself; otherwise (a
 * small turn's buffer, a socket with nothing queued: the common case) the
 * view is written as is. What a slow reader holds is then what it is owed.
 */
const PIN_SLACK = 1024 * 1024

function writable(bytes: Uint8Array, queued: number): Uint8Array {
  const pins = bytes.buffer.byteLength - bytes.byteLength
  return pins > 0 && (queued > 0 || pins > PIN_SLACK) ? Buffer.from(bytes) : bytes
}
