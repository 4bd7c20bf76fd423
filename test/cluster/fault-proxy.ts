/**
 * A TCP proxy standing for one network link (client to broker, broker to
 * etcd, broker to broker) that a fault test can break on purpose:
 *
 * - cut(): every open connection is reset both ways (RST, what a pulled cable
 *   looks like once the peer's timeout fires) and new ones are accepted and
 *   reset at once, until heal().
 * - stall(): connections stay open but no byte moves either way. Each
 *   direction of each connection holds at most `maxHeldBytes`; past that the
 *   proxy pauses the sending socket, so the sender feels TCP backpressure
 *   instead of the proxy's memory growing.
 * - delay(ms): every chunk is forwarded `ms` after it arrived, in order
 *   (same bound and backpressure as a stall).
 * - heal(): back to normal; held bytes go out first, in order, none lost.
 * - close(): stop listening and reset everything.
 *
 * It is protocol-blind (skiff frames, gRPC/HTTP2 to etcd), so it copes with
 * any number of connections and any byte boundaries.
 *
 * Decisions: a connection accepted during a stall is connected upstream but
 * moves nothing until heal(), like a SYN that got through before the link
 * went quiet. A connection accepted during a cut is reset right away rather
 * than left unanswered: the listener stays bound, so the port stays ours and
 * a client's reconnect loop fails fast instead of waiting for its own
 * timeout.
 */
import net from 'node:net'

export interface FaultProxyOptions {
  /** Where connections go; read at each new connection, so a test may change the port before any. */
  target: { host?: string; port: number }
  /** Bytes one direction of one connection may hold while stalled or delayed. Default 256 KiB. */
  maxHeldBytes?: number
}

export type LinkState = 'open' | 'cut' | 'stalled' | 'delayed'

/** Bytes forwarded so far, per direction: `up` is client to target, `down` target to client. */
export interface ByteCounts {
  up: number
  down: number
}

interface Held {
  chunk: Buffer
  /** When the chunk may go (delay mode); 0 = as soon as the link is open. */
  due: number
}

/** One direction of one connection: bytes from `src` to `dst`, held while the link is not open. */
class Pipe {
  readonly held: Held[] = []
  heldBytes = 0
  private draining = false
  private srcEnded = false
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly proxy: FaultProxy,
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly count: (n: number) => void,
  ) {
    src.on('data', (chunk: Buffer) => this.onData(chunk))
    src.on('end', () => {
      this.srcEnded = true
      this.pump()
    })
    dst.on('drain', () => {
      this.draining = false
      this.pump()
    })
  }

  private onData(chunk: Buffer): void {
    const state = this.proxy.state
    if (state === 'open' && this.held.length === 0 && !this.draining) return this.forward(chunk)
    this.held.push({ chunk, due: state === 'delayed' ? Date.now() + this.proxy.delayMs : 0 })
    this.heldBytes += chunk.length
    if (this.heldBytes >= this.proxy.maxHeldBytes) this.src.pause()
    this.pump()
  }

  private forward(chunk: Buffer): void {
    if (this.dst.destroyed) return
    this.count(chunk.length)
    if (!this.dst.write(chunk)) {
      // The receiver is slow: stop reading the sender until it drains.
      this.draining = true
      this.src.pause()
    }
  }

  /** Send what may go now; called on every state change, chunk, drain and timer. */
  pump(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const state = this.proxy.state
    if (state === 'cut' || state === 'stalled') return
    while (this.held.length > 0 && !this.draining) {
      const first = this.held[0]!
      const wait = state === 'delayed' ? first.due - Date.now() : 0
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait)
        return
      }
      this.held.shift()
      this.heldBytes -= first.chunk.length
      this.forward(first.chunk)
    }
    if (this.held.length === 0 && this.srcEnded && !this.dst.destroyed) this.dst.end()
    if (!this.draining && this.heldBytes < this.proxy.maxHeldBytes && !this.srcEnded) this.src.resume()
  }

  dispose(): void {
    clearTimeout(this.timer)
    this.held.length = 0
    this.heldBytes = 0
  }
}

interface Pair {
  client: net.Socket
  upstream: net.Socket
  pipes: [Pipe, Pipe]
}

export class FaultProxy {
  state: LinkState = 'open'
  delayMs = 0
  readonly maxHeldBytes: number
  /** Bytes forwarded so far. */
  readonly bytes: ByteCounts = { up: 0, down: 0 }
  /** Connections accepted (including those reset at once during a cut). */
  accepted = 0
  private readonly pairs = new Set<Pair>()
  private readonly server: net.Server
  private port = 0

  private constructor(private readonly opts: FaultProxyOptions) {
    this.maxHeldBytes = opts.maxHeldBytes ?? 256 * 1024
    // allowHalfOpen: a FIN from one side is passed on as a FIN, not turned into a close.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.onConnection(socket))
  }

  /** Listen on 127.0.0.1, port 0, forwarding to `opts.target`. */
  static async start(opts: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(opts)
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject)
      proxy.server.listen(0, '127.0.0.1', () => resolve())
    })
    proxy.port = (proxy.server.address() as net.AddressInfo).port
    return proxy
  }

  /** The port clients connect to instead of the target's. */
  get listenPort(): number {
    return this.port
  }

  /** Open connections through the proxy. */
  get connections(): number {
    return this.pairs.size
  }

  /**
   * Bytes the proxy holds for its connections right now: its own held
   * chunks plus what sits in its sockets' read and write buffers.
   */
  heldBytes(): number {
    let n = 0
    for (const p of this.pairs) {
      n += p.pipes[0].heldBytes + p.pipes[1].heldBytes
      n += p.client.readableLength + p.client.writableLength + p.upstream.readableLength + p.upstream.writableLength
    }
    return n
  }

  /** Reset every connection and refuse new ones until heal(). */
  cut(): void {
    this.state = 'cut'
    for (const p of [...this.pairs]) this.drop(p)
  }

  /** Move no byte either way, keeping connections open, until heal(). */
  stall(): void {
    this.state = 'stalled'
  }

  /** Forward every chunk `ms` after it arrived, until heal(). */
  delay(ms: number): void {
    this.delayMs = ms
    this.state = 'delayed'
    this.pumpAll()
  }

  /** Back to normal: held bytes flow first, in order. */
  heal(): void {
    this.state = 'open'
    this.delayMs = 0
    this.pumpAll()
  }

  /** Stop listening and reset every connection. */
  async close(): Promise<void> {
    this.state = 'cut'
    for (const p of [...this.pairs]) this.drop(p)
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private pumpAll(): void {
    for (const p of this.pairs) {
      p.pipes[0].pump()
      p.pipes[1].pump()
    }
  }

  private onConnection(client: net.Socket): void {
    this.accepted++
    if (this.state === 'cut') {
      client.on('error', () => {})
      client.resetAndDestroy()
      return
    }
    const upstream = net.connect({ host: this.opts.target.host ?? '127.0.0.1', port: this.opts.target.port, allowHalfOpen: true, noDelay: true })
    const pair: Pair = {
      client,
      upstream,
      pipes: [
        new Pipe(this, client, upstream, (n) => (this.bytes.up += n)),
        new Pipe(this, upstream, client, (n) => (this.bytes.down += n)),
      ],
    }
    this.pairs.add(pair)
    // An error on either side resets both: the peer sees what the other side did.
    // A clean close needs nothing: each FIN was passed on, so the other side closes too.
    const onClose = (hadError: boolean) => {
      if (hadError) return this.drop(pair)
      if (client.destroyed && upstream.destroyed) this.forget(pair)
    }
    client.on('error', () => this.drop(pair)).on('close', onClose)
    upstream.on('error', () => this.drop(pair)).on('close', onClose)
  }

  private forget(pair: Pair): boolean {
    if (!this.pairs.delete(pair)) return false
    pair.pipes.forEach((p) => p.dispose())
    return true
  }

  /**
   * Reset both sockets of a pair (RST, not FIN; one still connecting is reset
   * once connected). A socket we already ended is only destroyed: libuv
   * refuses to reset a handle with a shutdown pending (EINVAL), and Node
   * 20 then never closes that handle, so the process could not exit.
   */
  private drop(pair: Pair): void {
    if (!this.forget(pair)) return
    for (const s of [pair.client, pair.upstream]) {
      s.on('error', () => {})
      if (s.destroyed) continue
      if (s.writableEnded) s.destroy()
      else s.resetAndDestroy()
    }
  }
}
