/**
 * One connection to a broker: the socket, the framing, the handshake,
 * heartbeats and the correlation table. It knows nothing of producers or
 * consumers; the client routes DELIVER frames and unsolicited errors through
 * the `ConnectionHooks` it passes in. A Connection is used once: after a loss
 * the client's Link (link.ts) opens a new one and swaps it in under the live
 * producers and consumers.
 *
 * Decisions written down here:
 * - A request is a frame with a `corr`; the answer is OK, PUBLISH_ACK or
 *   ERROR carrying the same `corr`. An answer to a corr we no longer wait for
 *   (it timed out) is dropped; an ERROR for such a corr goes to
 *   `hooks.unsolicitedError` because fire-and-forget publishes are only ever
 *   answered that way.
 * - Heartbeats: PING when we have sent nothing for heartbeatMs; the peer is
 *   dead when nothing at all came from it for 2 x heartbeatMs + idleTimeoutMs
 *   (IDLE_TIMEOUT, after which the client reconnects).
 * - A broker that shuts down sends ERROR SHUTTING_DOWN without corr and then
 *   closes. That is a farewell, not a fault: it is not reported as an error;
 *   it becomes the cause of the CONNECTION_CLOSED the close is reported with.
 * - The largest frame accepted from the broker is WELCOME.maxFrame, but never
 *   more than the client's own `maxReceiveFrame` (64 MiB by default): a
 *   hostile or broken peer cannot make the client buffer gigabytes by
 *   announcing a huge limit. Before WELCOME the limit is 1 MiB.
 * - Anything the decoder rejects (garbage, a frame over that limit, an
 *   opcode a broker never sends) closes the connection with that error: the
 *   stream cannot be trusted past a bad frame. It never throws out of a
 *   socket callback.
 * - No own write queue: frames go straight to the socket (its buffer is the
 *   queue). Writers that can produce without bound (the producer) ask
 *   `needsDrain` and wait on `drained()` before writing more.
 * - Set NODE_DEBUG=skiff to log every frame's opcode and size (never payloads).
 */
import net from 'node:net'
import tls from 'node:tls'
import { debuglog } from 'node:util'
import {
  DEFAULT_MAX_FRAME,
  Fields,
  FrameDecoder,
  Op,
  SkiffError,
  SUPPORTED_VERSIONS,
  decodeError,
  decodeRequest,
  decodeWelcome,
  encodeHello,
  encodePing,
  encodePong,
  opcodeName,
  readDeliver,
  type DeliverFrame,
  type Frame,
  type RequestFrame,
  type Welcome,
} from '../protocol/index.js'
import { DEFAULT_PORT, formatAddress, type BrokerAddress } from './url.js'

const debug = debuglog('skiff')

/** How a Connection is opened. */
export interface ConnectionOptions {
  name: string
  token?: string | undefined
  /** The user the token belongs to (HELLO.user); needed for hashed tokens. */
  user?: string | undefined
  connectTimeoutMs: number
  /** Largest frame accepted from the broker, whatever its WELCOME says. */
  maxReceiveFrame: number
  requestTimeoutMs: number
  /** Extra TLS options for skiffs:// (ca, cert, key, rejectUnauthorized, ...). */
  tls?: tls.ConnectionOptions | undefined
}

/** Where a Connection reports what belongs to no request. */
export interface ConnectionHooks {
  /** A DELIVER, read and checked whole (all its records included) before it is handed over. */
  deliver(d: DeliverFrame): void
  /** A REQUEST routed to this connection because it serves the topic. */
  request?(r: RequestFrame): void
  /** An ERROR for a corr nobody waits for (a fire-and-forget publish that failed). */
  unsolicitedError(err: SkiffError, corr: number): void
  /** An ERROR without corr that does not end the connection. */
  connectionError(err: SkiffError): void
  /** The connection is gone; `reason` is undefined after close(). Called once. */
  closed(reason: SkiffError | undefined): void
}

interface Pending {
  resolve(frame: Frame): void
  reject(err: SkiffError): void
  timer: NodeJS.Timeout | undefined
  what: string
}

type State = 'handshake' | 'open' | 'closing' | 'closed'

/** How long close() waits for the broker to close its side before destroying the socket. */
const CLOSE_GRACE_MS = 2000

/** One socket to a broker, from HELLO to close; never reused after it closes. */
export class Connection {
  welcome!: Welcome
  private state: State = 'handshake'
  private readonly decoder = new FrameDecoder(DEFAULT_MAX_FRAME)
  private readonly pending = new Map<number, Pending>()
  private corr = 0
  private lastSent = Date.now()
  private lastReceived = Date.now()
  /** When unresponsive() sent its PING, while nothing has come since. */
  private probeSentAt: number | undefined
  private heartbeat: NodeJS.Timeout | undefined
  private closeReason: SkiffError | undefined
  private closedPromise: Promise<void>
  private markClosed!: () => void
  private handshake: { resolve(): void; reject(e: SkiffError): void } | undefined
  /** The SHUTTING_DOWN a broker sent before closing, to explain the close. */
  private farewell: SkiffError | undefined

  private constructor(
    private readonly socket: net.Socket,
    readonly address: BrokerAddress,
    private readonly opts: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.closedPromise = new Promise((resolve) => (this.markClosed = resolve))
    socket.setNoDelay(true) // we batch frames ourselves
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err) => this.fail(new SkiffError('CONNECTION_CLOSED', `connection to ${formatAddress(address)} failed: ${err.message}`, { cause: err })))
    socket.on('close', () => {
      const why = this.farewell ? `: ${this.farewell.message}` : ''
      this.fail(new SkiffError('CONNECTION_CLOSED', `the broker at ${formatAddress(address)} closed the connection${why}`, this.farewell ? { cause: this.farewell } : {}))
    })
  }

  /** Connect, send HELLO and wait for WELCOME (all within connectTimeoutMs). */
  static open(address: BrokerAddress, opts: ConnectionOptions, hooks: ConnectionHooks): Promise<Connection> {
    if (address.transport === 'udp') {
      return Promise.reject(new SkiffError('INVALID_REQUEST', `${formatAddress(address)} is a telemetry address; connect() needs skiff:// or skiffs://`))
    }
    const socket =
      address.transport === 'tls'
        ? tls.connect({ ...opts.tls, host: address.host, port: address.port, servername: opts.tls?.servername ?? (net.isIP(address.host) ? undefined : address.host) })
        : net.connect({ host: address.host, port: address.port })
    const conn = new Connection(socket, address, opts, hooks)
    return new Promise<Connection>((resolve, reject) => {
      const timer = setTimeout(() => {
        conn.fail(new SkiffError('TIMEOUT', `no WELCOME from ${formatAddress(address)} within ${opts.connectTimeoutMs} ms`))
      }, opts.connectTimeoutMs)
      conn.handshake = {
        resolve: () => {
          clearTimeout(timer)
          resolve(conn)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      socket.once(address.transport === 'tls' ? 'secureConnect' : 'connect', () => {
        conn.writeFrame(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: opts.name, token: opts.token, user: opts.user }))
      })
    })
  }

  get isOpen(): boolean {
    return this.state === 'open'
  }

  /** Largest frame (length field value) the broker accepts from us. */
  get maxFrame(): number {
    return this.welcome.maxFrame
  }

  /** True when the socket's buffer is past its high-water mark: wait on drained(). */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain
  }

  /** Bytes written to the socket that it has not yet handed to the OS. */
  get bufferedBytes(): number {
    return this.socket.writableLength
  }

  /** Resolves once the socket buffer has drained, or the connection is closed. */
  drained(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.state === 'closed') return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        resolve()
      }
      this.socket.on('drain', done)
      this.socket.on('close', done)
    })
  }

  /** Resolves when the connection has closed, for whatever reason. */
  get closed(): Promise<void> {
    return this.closedPromise
  }

  nextCorr(): number {
    this.corr = this.corr >= 0xffffffff ? 1 : this.corr + 1
    return this.corr
  }

  /** Write a frame that expects no answer. Throws when the connection is not open or the frame is too large. */
  send(frame: Buffer): void {
    if (this.state !== 'open') throw this.closedError()
    this.checkSize(frame)
    this.writeFrame(frame)
  }

  /**
   * Write a request frame (which carries `corr`) and resolve with the answer
   * frame (OK or PUBLISH_ACK); reject with the SkiffError of an ERROR answer,
   * TIMEOUT after timeoutMs (0: no timer, the caller keeps its own deadline),
   * or CONNECTION_CLOSED.
   */
  request(corr: number, frame: Buffer, what: string, timeoutMs = this.opts.requestTimeoutMs): Promise<Frame> {
    if (this.state !== 'open') return Promise.reject(this.closedError())
    try {
      this.checkSize(frame)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise<Frame>((resolve, reject) => {
      const p: Pending = { resolve, reject, timer: undefined, what }
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(corr)
          reject(new SkiffError('TIMEOUT', `no answer to ${what} within ${timeoutMs} ms`))
        }, timeoutMs)
      }
      this.pending.set(corr, p)
      this.writeFrame(frame)
    })
  }

  /**
   * Stop waiting for the answer to `corr` (its owner gave up on it). A late
   * answer is then dropped like any answer to an unknown corr.
   */
  cancel(corr: number): void {
    const p = this.pending.get(corr)
    if (!p) return
    this.pending.delete(corr)
    if (p.timer) clearTimeout(p.timer)
  }

  /** Drop the connection because of `reason`, as if the broker had: the client reconnects. */
  abort(reason: SkiffError): void {
    this.fail(reason)
  }

  /** Close our side: pending requests reject with CONNECTION_CLOSED. Resolves once the socket is closed. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return this.closedPromise
    this.state = 'closing'
    this.stopHeartbeat()
    this.rejectPending(new SkiffError('CONNECTION_CLOSED', 'the client closed the connection'))
    this.socket.end()
    const force = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS)
    force.unref()
    await this.closedPromise
    clearTimeout(force)
  }

  private checkSize(frame: Buffer): void {
    const length = frame.length - 4
    if (length > this.welcome.maxFrame) {
      throw new SkiffError('FRAME_TOO_LARGE', `frame of ${length} bytes exceeds the broker's maximum of ${this.welcome.maxFrame}`, {
        details: { length, maxFrame: this.welcome.maxFrame },
      })
    }
  }

  private writeFrame(frame: Buffer): void {
    if (debug.enabled) debug('-> %s %d bytes', opcodeName(frame[4]!), frame.length)
    this.lastSent = Date.now()
    this.socket.write(frame)
  }

  private closedError(): SkiffError {
    const reason = this.closeReason
    return new SkiffError('CONNECTION_CLOSED', reason ? `the connection is closed: ${reason.message}` : 'the connection is closed', reason ? { cause: reason } : {})
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return
    this.lastReceived = Date.now()
    if (this.state === 'handshake' && this.sniffHttp(chunk)) return
    this.decoder.push(chunk)
    try {
      // dispatch() may close the connection: stop reading frames then.
      for (let f = this.decoder.next(); f !== null; f = (this.state as State) === 'closed' ? null : this.decoder.next()) {
        if (debug.enabled) debug('<- %s %d bytes', opcodeName(f.opcode), f.body.length + 5)
        this.dispatch(f)
      }
    } catch (err) {
      this.fail(err instanceof SkiffError ? err : new SkiffError('BAD_FRAME', `cannot handle a frame from the broker: ${(err as Error).message}`, { cause: err }))
    }
  }

  /** The first bytes from the server, kept until there are 4 (only during the handshake). */
  private firstBytes: Buffer | undefined = Buffer.alloc(0)

  /**
   * A URL naming the broker's HTTP port (/metrics) instead of its protocol port: the HTTP server
   * answers our HELLO with "HTTP/1.1 400 ...", whose first 4 bytes read as a frame length of
   * 0x48545450 (1,213,486,160). Say what happened instead of "frame of 1213486160 bytes".
   * True when the connection was failed for it.
   */
  private sniffHttp(chunk: Buffer): boolean {
    if (this.firstBytes === undefined) return false
    this.firstBytes = Buffer.concat([this.firstBytes, chunk.subarray(0, 4)])
    if (this.firstBytes.length < 4) return false
    const http = this.firstBytes.toString('latin1', 0, 4) === 'HTTP'
    this.firstBytes = undefined
    if (!http) return false
    this.fail(new SkiffError('BAD_FRAME', `${formatAddress(this.address)} answered with HTTP: that is the broker's HTTP port (/metrics), not its protocol port (default ${DEFAULT_PORT})`))
    return true
  }

  private dispatch(f: Frame): void {
    if (this.state === 'handshake') return this.onHandshakeFrame(f)
    switch (f.opcode) {
      case Op.OK:
      case Op.PUBLISH_ACK:
      case Op.REPLY:
        return this.answer(f)
      case Op.REQUEST:
        if (!this.hooks.request) throw new SkiffError('BAD_FRAME', 'a REQUEST frame from the broker, but this connection serves nothing')
        return this.hooks.request(decodeRequest(f.body))
      case Op.ERROR:
        return this.onError(f)
      case Op.DELIVER:
        return this.hooks.deliver(readDeliver(f.body))
      case Op.PING:
        if (this.state === 'open') this.writeFrame(encodePong())
        return
      case Op.PONG:
        return
      default:
        throw new SkiffError('BAD_FRAME', `unexpected ${opcodeName(f.opcode)} frame from the broker`)
    }
  }

  private onHandshakeFrame(f: Frame): void {
    if (f.opcode === Op.ERROR) {
      const e = decodeError(f.body)
      throw SkiffError.fromWire(e.code, `the broker refused the connection: ${e.message}`, e.details)
    }
    if (f.opcode !== Op.WELCOME) throw new SkiffError('BAD_FRAME', `expected WELCOME, got ${opcodeName(f.opcode)}`)
    const w = decodeWelcome(f.body)
    if (!SUPPORTED_VERSIONS.includes(w.version)) {
      throw new SkiffError('UNSUPPORTED_VERSION', `the broker chose protocol version ${w.version}; this client speaks ${SUPPORTED_VERSIONS.join(', ')}`)
    }
    if (w.maxFrame < 64) throw new SkiffError('BAD_FRAME', `WELCOME.maxFrame ${w.maxFrame} is too small to be usable`)
    this.welcome = w
    this.decoder.maxFrame = Math.min(w.maxFrame, this.opts.maxReceiveFrame)
    this.state = 'open'
    this.startHeartbeat()
    this.handshake?.resolve()
    this.handshake = undefined
  }

  /** Peek at `corr` without decoding the rest: the pending entry's owner decodes. */
  private answer(f: Frame): void {
    const corr = new Fields(opcodeName(f.opcode), f.body).uint('corr')
    const p = this.pending.get(corr)
    if (!p) return // late answer to a request that timed out
    this.pending.delete(corr)
    if (p.timer) clearTimeout(p.timer)
    p.resolve(f)
  }

  private onError(f: Frame): void {
    const e = decodeError(f.body)
    const err = SkiffError.fromWire(e.code, e.message, e.details)
    if (e.corr === undefined) {
      if (err.fatal) throw err
      if (err.code === 'SHUTTING_DOWN') {
        this.farewell = err
        return
      }
      this.hooks.connectionError(err)
      return
    }
    const p = this.pending.get(e.corr)
    if (!p) return this.hooks.unsolicitedError(err, e.corr)
    this.pending.delete(e.corr)
    if (p.timer) clearTimeout(p.timer)
    p.reject(err)
  }

  /**
   * @internal A cheap liveness probe, far quicker than the heartbeat's
   * IDLE_TIMEOUT: when nothing came from the broker for `ms`, send a PING;
   * true once such a PING is older than `ms` with nothing at all received
   * since (the broker is paused, or its machine or link hangs). The
   * connection is not closed for it: a paused broker comes back.
   */
  unresponsive(ms: number, now = Date.now()): boolean {
    if (this.state !== 'open') return false
    if (this.probeSentAt !== undefined && this.lastReceived < this.probeSentAt) return now - this.probeSentAt > ms
    this.probeSentAt = undefined
    if (now - this.lastReceived >= ms) {
      this.probeSentAt = now
      this.writeFrame(encodePing())
    }
    return false
  }

  private startHeartbeat(): void {
    const { heartbeatMs, idleTimeoutMs } = this.welcome
    if (heartbeatMs <= 0) return
    const deadAfter = 2 * heartbeatMs + idleTimeoutMs
    this.heartbeat = setInterval(
      () => {
        const now = Date.now()
        if (now - this.lastReceived > deadAfter) {
          this.fail(new SkiffError('IDLE_TIMEOUT', `nothing received from the broker for ${now - this.lastReceived} ms`))
        } else if (now - this.lastSent >= heartbeatMs) {
          this.writeFrame(encodePing())
        }
      },
      Math.max(10, Math.floor(heartbeatMs / 4)),
    )
    // The socket keeps the process alive while the connection is open; the timer must not on its own.
    this.heartbeat.unref()
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = undefined
  }

  private rejectPending(err: SkiffError): void {
    const all = [...this.pending.values()]
    this.pending.clear()
    for (const p of all) {
      if (p.timer) clearTimeout(p.timer)
      p.reject(new SkiffError('CONNECTION_CLOSED', `${p.what}: ${err.message}`, { cause: err }))
    }
  }

  /** End the connection because of `err` (or because close() finished). Idempotent. */
  private fail(err: SkiffError): void {
    if (this.state === 'closed') return
    const userClosed = this.state === 'closing'
    this.state = 'closed'
    this.closeReason = userClosed ? undefined : err
    this.stopHeartbeat()
    this.socket.destroy()
    this.rejectPending(err)
    if (this.handshake) {
      this.handshake.reject(err)
      this.handshake = undefined
    }
    this.markClosed()
    this.hooks.closed(this.closeReason)
  }
}
