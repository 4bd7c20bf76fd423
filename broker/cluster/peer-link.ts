/**
 * One connection from this broker to a peer broker of its cluster, over the
 * normal skiff protocol: HELLO as the cluster's broker identity, then
 * REQUESTs marked `forwarded`, each answered by REPLY or ERROR under the
 * link's own corr (peer-forward.ts decides what to ask whom), the admin
 * requests forwarded to a partition's leader (leader-requests.ts): one
 * connection per pair of brokers. Each worker makes its replication fetches
 * over a link of its own to the peer (worker/leader-fetchers.ts).
 *
 * Decisions written down here:
 * - Connected on first use, not at once: a cluster where nobody makes
 *   cross-broker requests holds no peer sockets. A connect (TCP, TLS when
 *   this broker's listener speaks TLS, and the HELLO/WELCOME handshake) has
 *   CONNECT_TIMEOUT_MS, less when the request has less time left. After a
 *   failed connect the link refuses at once ("unreachable") until a backoff
 *   (100 ms doubling to 1 s) has passed, so a peer that is down (still in the
 *   view until its lease expires) costs the next requests nothing. The cap is
 *   Kafka's reconnect.backoff.max.ms: replication from a peer resumes within
 *   a second of the network healing (with 5 s, a cut of a few seconds left
 *   confirms stalled for up to 5 s more), and a connect attempt a second to
 *   a peer that is down costs nothing worth saving. The warning is logged
 *   once when a peer becomes unreachable (again every UNREACHABLE_LOG_MS
 *   while it stays so), and its return once.
 * - At most `maxInFlight` requests wait on one link; past it the link says
 *   "busy" without sending. Each waits at most its own timeoutMs (the
 *   requester's deadline, carried across the hop), then is forgotten. So a
 *   slow or dead peer holds at most maxInFlight small entries.
 * - A request sent on a link that then closes may have reached a server: it
 *   is answered NO_RESPONDERS (retriable, as when a server on this broker
 *   disconnects mid-request) and never sent elsewhere (at most once).
 * - The link PINGs every second (or heartbeatMs the WELCOME gave, if
 *   shorter), so the peer's idle timeout never cuts it, and a peer that
 *   answers nothing (not even PONG) for SILENT_PEER_MS is taken for gone:
 *   the link closes and its requests are answered at once instead of each
 *   waiting out its deadline on a stalled (SIGSTOPped, partitioned) broker.
 */
import net from 'node:net'
import tls from 'node:tls'
import fs from 'node:fs'
import { FrameDecoder, Op, SUPPORTED_VERSIONS, SkiffError, decodeError, decodeOk, decodeReplData, decodeReply, decodeWelcome, encodeHello, encodePing, encodeRequest, errorByCode, replDataFrameLimit, type Reply, type ReplData } from '../../protocol/index.js'
import type { ErrorName } from '../../protocol/errors.js'

export interface PeerAddress {
  id: number
  host: string
  port: number
  incarnation: string
}

/** What the link says in HELLO: its name, and the broker user's credentials when the peers check them. */
export interface PeerHello {
  client: string
  user?: string | undefined
  token?: string | undefined
}

/** TLS towards peers: the CA that signed their certificates, and this broker's own certificate (for peers that verify clients). */
export interface PeerTls {
  ca?: string | undefined
  cert?: string | undefined
  key?: string | undefined
}

export interface PeerLinkOptions {
  peer: PeerAddress
  /** Read at each connect, so a reloaded auth file's token is used from the next connect on. */
  hello: () => PeerHello
  tls?: PeerTls | undefined
  maxInFlight: number
  log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

export type PeerAnswer =
  | { kind: 'reply'; reply: Reply }
  /** The answer to a replication fetch. */
  | { kind: 'data'; data: ReplData }
  /** The answer to a forwarded admin request (leader-requests.ts). */
  | { kind: 'ok'; result: unknown }
  /** An answer to relay as it is (the peer's ERROR, or this link's TIMEOUT / NO_RESPONDERS after the request left). */
  | { kind: 'error'; error: SkiffError }
  /** The link closed after the request left: it may have reached a server (answered NO_RESPONDERS, never sent elsewhere). */
  | { kind: 'lost'; error: SkiffError }
  /** The request never left this broker: the peer is down or the link is full; another peer may be asked. */
  | { kind: 'unreachable' | 'busy'; reason: string }

export const CONNECT_TIMEOUT_MS = 2000
const BACKOFF_FIRST_MS = 100
export const BACKOFF_MAX_MS = 1000
const UNREACHABLE_LOG_MS = 30_000
const PING_EVERY_MS = 1000
const SILENT_PEER_MS = 3000

interface Waiting {
  resolve: (a: PeerAnswer) => void
  timer: NodeJS.Timeout
}

export class PeerLink {
  private socket: net.Socket | undefined
  private connecting: Promise<net.Socket> | undefined
  private readonly waiting = new Map<number, Waiting>()
  private heartbeat: NodeJS.Timeout | undefined
  private nextCorr = 1
  /** When the last frame came from the peer. */
  private lastSeen = 0
  private backoffMs = BACKOFF_FIRST_MS
  private retryAt = 0
  private lastFailure = ''
  /** The current run of failed connects: when it began, how many, when it was last logged. */
  private failing: { since: number; attempts: number; loggedAt: number } | undefined
  private closed = false

  constructor(private readonly opts: PeerLinkOptions) {}

  get peer(): PeerAddress {
    return this.opts.peer
  }

  /** What another link to the same peer is made with (a worker's replica fetches: worker/leader-fetchers.ts). */
  get connection(): { peer: PeerAddress; hello: PeerHello; tls: PeerTls | undefined } {
    return { peer: this.opts.peer, hello: this.opts.hello(), tls: this.opts.tls }
  }

  get inFlight(): number {
    return this.waiting.size
  }

  /** Ask the peer to hand one request to a server of its own; resolves, never rejects. */
  request(topic: string, record: Buffer, timeoutMs: number): Promise<PeerAnswer> {
    return this.call((corr) => encodeRequest({ corr, topic, record, timeoutMs, forwarded: true }), timeoutMs)
  }

  /**
   * Send the frame `encode` makes under a corr of this link's, and resolve
   * with the peer's answer under that corr (REPLY, REPL_DATA or ERROR);
   * never rejects.
   */
  async call(encode: (corr: number) => Buffer, timeoutMs: number): Promise<PeerAnswer> {
    if (this.waiting.size >= this.opts.maxInFlight) return { kind: 'busy', reason: `${this.waiting.size} requests already wait on broker ${this.peer.id}` }
    let socket: net.Socket
    try {
      socket = this.socket ?? (await this.connect(Math.min(CONNECT_TIMEOUT_MS, timeoutMs)))
    } catch (err) {
      return { kind: 'unreachable', reason: (err as Error).message }
    }
    if (this.waiting.size >= this.opts.maxInFlight) return { kind: 'busy', reason: `${this.waiting.size} requests already wait on broker ${this.peer.id}` }
    const corr = this.nextCorr++
    return new Promise<PeerAnswer>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(corr)
        resolve({ kind: 'error', error: new SkiffError('TIMEOUT', `no reply from broker ${this.peer.id} within ${timeoutMs} ms`) })
      }, timeoutMs)
      timer.unref()
      this.waiting.set(corr, { resolve, timer })
      socket.write(encode(corr))
    })
  }

  close(): void {
    this.closed = true
    this.socket?.destroy()
    this.lost(`the link to broker ${this.peer.id} was closed`)
  }

  private connect(timeoutMs: number): Promise<net.Socket> {
    if (this.closed) return Promise.reject(new Error('the link is closed'))
    if (this.connecting) return this.connecting
    if (Date.now() < this.retryAt) return Promise.reject(new Error(`broker ${this.peer.id} at ${this.where} was unreachable (${this.lastFailure}); next try in ${this.retryAt - Date.now()} ms`))
    this.connecting = this.handshake(timeoutMs).then(
      (socket) => {
        this.connecting = undefined
        this.backoffMs = BACKOFF_FIRST_MS
        const f = this.failing
        if (f) this.opts.log('info', 'peer broker reachable again', { broker: this.peer.id, address: this.where, unreachableMs: Date.now() - f.since, attempts: f.attempts })
        this.failing = undefined
        return socket
      },
      (err: unknown) => {
        this.connecting = undefined
        this.lastFailure = (err as Error).message
        const now = Date.now()
        this.retryAt = now + this.backoffMs
        this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2)
        const f = (this.failing ??= { since: now, attempts: 0, loggedAt: 0 })
        f.attempts++
        if (now - f.loggedAt >= UNREACHABLE_LOG_MS) {
          f.loggedAt = now
          this.opts.log('warn', 'peer broker unreachable', { broker: this.peer.id, address: this.where, err: this.lastFailure, attempts: f.attempts })
        }
        throw err
      },
    )
    return this.connecting
  }

  private get where(): string {
    return `${this.peer.host}:${this.peer.port}`
  }

  private handshake(timeoutMs: number): Promise<net.Socket> {
    return new Promise<net.Socket>((resolve, reject) => {
      // A decoder per socket: nothing half-read from an earlier connection can leak into this one.
      const decoder = new FrameDecoder()
      const { host, port } = this.peer
      const t = this.opts.tls
      const socket = t
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...(t.ca ? { ca: fs.readFileSync(t.ca) } : {}), ...(t.cert && t.key ? { cert: fs.readFileSync(t.cert), key: fs.readFileSync(t.key) } : {}) })
        : net.connect({ host, port })
      // Frames are written whole: Nagle's algorithm would hold a small REPL_FETCH for the peer's delayed ACK (up to 40 ms a round).
      socket.setNoDelay(true)
      const fail = (err: Error) => {
        clearTimeout(timer)
        socket.destroy()
        reject(err)
      }
      const timer = setTimeout(() => fail(new Error(`no WELCOME within ${timeoutMs} ms`)), timeoutMs)
      timer.unref()
      socket.once(t ? 'secureConnect' : 'connect', () => {
        const hello = this.opts.hello()
        socket.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: hello.client, token: hello.token, user: hello.user }))
      })
      socket.on('error', (err) => fail(err))
      socket.on('close', () => {
        fail(new Error('the peer closed the connection during the handshake'))
        if (this.socket === socket) {
          this.socket = undefined
          clearInterval(this.heartbeat)
          this.lost(`broker ${this.peer.id}, which had the request's server, went away before the reply came`)
        }
      })
      const onData = (chunk: Buffer) => {
        decoder.push(chunk)
        this.lastSeen = Date.now()
        try {
          for (let f = decoder.next(); f; f = decoder.next()) {
            if (this.socket === socket) this.frame(f.opcode, f.body)
            else if (f.opcode === Op.WELCOME) {
              const w = decodeWelcome(f.body)
              clearTimeout(timer)
              // REPL_DATA may be larger than a client's frames: a whole batch past the answer's budget (protocol/frames/replication.ts).
              decoder.maxFrame = replDataFrameLimit(w.maxFrame)
              this.socket = socket
              this.lastSeen = Date.now()
              this.heartbeat = setInterval(() => {
                if (Date.now() - this.lastSeen <= SILENT_PEER_MS) socket.write(encodePing())
                else {
                  this.opts.log('warn', 'peer broker silent: link closed', { broker: this.peer.id, silentMs: Date.now() - this.lastSeen })
                  socket.destroy()
                }
              }, Math.max(100, Math.min(PING_EVERY_MS, w.heartbeatMs)))
              this.heartbeat.unref()
              resolve(socket)
            } else if (f.opcode === Op.ERROR) {
              const e = decodeError(f.body)
              fail(new Error(`broker ${this.peer.id} refused the link: ${e.name}: ${e.message}`))
            }
          }
        } catch (err) {
          this.opts.log('warn', 'peer broker sent a frame that could not be read: link closed', { broker: this.peer.id, err: (err as Error).message })
          socket.destroy()
        }
      }
      socket.on('data', onData)
    })
  }

  private frame(opcode: number, body: Buffer): void {
    if (opcode === Op.REPLY) {
      const reply = decodeReply(body)
      this.settle(reply.corr, { kind: 'reply', reply })
    } else if (opcode === Op.REPL_DATA) {
      const data = decodeReplData(body)
      this.settle(data.corr, { kind: 'data', data })
    } else if (opcode === Op.OK) {
      const ok = decodeOk(body)
      this.settle(ok.corr, { kind: 'ok', result: ok.result })
    } else if (opcode === Op.ERROR) {
      const e = decodeError(body)
      const name = (errorByCode(e.code)?.name ?? 'INTERNAL') as ErrorName
      const error = new SkiffError(name, e.message, e.details ? { details: e.details } : {})
      if (e.corr !== undefined) this.settle(e.corr, { kind: 'error', error })
      else this.opts.log('warn', 'peer broker closed the link', { broker: this.peer.id, err: `${e.name}: ${e.message}` })
    }
    // PONG, and anything else a broker sends a client, needs nothing.
  }

  private settle(corr: number, answer: PeerAnswer): void {
    const w = this.waiting.get(corr)
    if (!w) return // timed out here already
    this.waiting.delete(corr)
    clearTimeout(w.timer)
    w.resolve(answer)
  }

  private lost(message: string): void {
    for (const [corr, w] of [...this.waiting]) {
      this.waiting.delete(corr)
      clearTimeout(w.timer)
      w.resolve({ kind: 'lost', error: new SkiffError('NO_RESPONDERS', message, { details: { broker: this.peer.id } }) })
    }
  }
}
