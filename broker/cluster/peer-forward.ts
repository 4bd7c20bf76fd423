/**
 * Request/reply across a cluster: a REQUEST for which this broker has no
 * server of its own is forwarded to the other live brokers (the cluster
 * view's `brokers`, this one left out), each over one PeerLink.
 *
 * Decisions written down here:
 * - Peers are asked ONE AFTER ANOTHER, never at once, each with
 *   `forwarded: true` (the peer hands it to a server of its own or answers
 *   NO_RESPONDERS at once, and never forwards it again: no loops). So at
 *   most one server anywhere handles a request (at most once, as on one
 *   broker), at the price of one round trip per peer without a server. The
 *   first peer asked turns round-robin, so requests spread over the brokers
 *   whose clients serve the topic.
 * - The first REPLY, or any ERROR other than NO_RESPONDERS (the server's
 *   failure, the peer's OVERLOADED), is the answer. A peer that cannot be
 *   reached, or whose link is full, is skipped: the request never left this
 *   broker. Only when every peer answered NO_RESPONDERS (or was skipped) is
 *   the answer NO_RESPONDERS; OVERLOADED instead when a full link was among
 *   the skipped, since a server may well be there.
 * - The requester's deadline (timeoutMs, default 30 s) is kept across hops:
 *   each peer is given what is left of it. Past it the request is dropped
 *   without an answer, as on one broker (the requester's own TIMEOUT fires).
 * - Forwarded requests count against the requester's maxRequestsPerConnection
 *   like local ones.
 * - With an auth file, the links log in as the first user marked
 *   `"broker": true` that has a plain token (auth-file.ts); without one,
 *   nothing is forwarded (logged at start) and requests without a local
 *   server get NO_RESPONDERS as on one broker.
 */
import { Counter, type Registry } from 'prom-client'
import { SkiffError, encodeReply, type RequestFrame } from '../../protocol/index.js'
import type { HandlerConnection } from '../gateway/handler-connection.js'
import type { Authenticator } from '../auth/authenticator.js'
import type { BrokerConfig } from '../config.js'
import type { BrokerRecord } from './records.js'
import { PeerLink, type PeerHello, type PeerTls } from './peer-link.js'

/** What the forwarder reads of the cluster node (cluster-node.ts). */
export interface PeerDirectory {
  readonly brokerId: number
  readonly view: { readonly brokers: ReadonlyMap<number, BrokerRecord> }
}

export interface PeerForwarderOptions {
  node: PeerDirectory
  config: BrokerConfig
  auth: Authenticator
  registry: Registry
  /** TLS towards peers when this broker's own listener speaks TLS. */
  tls?: PeerTls | undefined
  log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

/** Requests one link may have waiting on a peer (lowered to the peer's maxRequestsPerConnection, which limits the link there too). */
export const MAX_FORWARDED_IN_FLIGHT_PER_PEER = 4096
const DEFAULT_TIMEOUT_MS = 30_000

export const FORWARD_OUTCOMES = ['replied', 'failed', 'no_responders', 'peer_lost', 'timeout', 'overloaded'] as const
type Outcome = (typeof FORWARD_OUTCOMES)[number]

export class PeerForwarder {
  private readonly links = new Map<number, PeerLink>()
  private readonly held = new Map<HandlerConnection, number>()
  private readonly counter: Counter<'outcome'>
  private turn = 0
  private helloOf: { users: readonly unknown[]; hello: PeerHello } | undefined
  private closed = false

  constructor(private readonly opts: PeerForwarderOptions) {
    this.counter = new Counter({
      name: 'skiff_cluster_forwarded_requests_total',
      help: 'Requests without a server on this broker, forwarded to the other brokers of the cluster, by outcome',
      labelNames: ['outcome'],
      registers: [opts.registry],
    })
    for (const o of FORWARD_OUTCOMES) this.counter.inc({ outcome: o }, 0)
    if (opts.auth.enabled && !this.hello().token) {
      opts.log('warn', 'no auth-file user marked "broker": true with a plain token: requests are not forwarded to other brokers, a request without a server here gets NO_RESPONDERS')
    }
  }

  /**
   * Find a server of `req.topic` on another broker and answer `requester`
   * with its reply (under the requester's corr). Throws INVALID_REQUEST past
   * the requester's maxRequestsPerConnection; everything later is answered.
   */
  forward(requester: HandlerConnection, req: RequestFrame, localHeld: number): void {
    const limit = this.opts.config.maxRequestsPerConnection
    const held = this.held.get(requester) ?? 0
    if (limit > 0 && held + localHeld >= limit) {
      throw new SkiffError('INVALID_REQUEST', `a connection may have at most ${limit} requests waiting for replies (maxRequestsPerConnection)`, {
        details: { limit: 'maxRequestsPerConnection', value: limit },
      })
    }
    this.held.set(requester, held + 1)
    const deadline = Date.now() + (req.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    void this.ask(req, deadline)
      .catch((err: unknown) => ({ outcome: 'failed' as const, error: new SkiffError('INTERNAL', `forwarding failed: ${(err as Error).message}`) }))
      .then((result) => {
        const left = (this.held.get(requester) ?? 1) - 1
        if (left > 0) this.held.set(requester, left)
        else this.held.delete(requester)
        this.counter.inc({ outcome: result.outcome })
        if (requester.closed || result.outcome === 'timeout') return
        if ('record' in result) requester.send(encodeReply({ corr: req.corr, record: result.record }))
        else requester.error(result.error, req.corr)
      })
  }

  private async ask(req: RequestFrame, deadline: number): Promise<{ outcome: Outcome; record: Buffer } | { outcome: Outcome; error: SkiffError }> {
    const peers = this.peers()
    const skipped: string[] = []
    let busy = false
    const start = this.turn++
    for (let i = 0; i < peers.length; i++) {
      const left = deadline - Date.now()
      if (left <= 0) return { outcome: 'timeout', error: new SkiffError('TIMEOUT') }
      const link = peers[(start + i) % peers.length]!
      const answer = await link.request(req.topic, req.record, left)
      if (answer.kind === 'reply') {
        if (answer.reply.error !== undefined) return { outcome: 'failed', error: new SkiffError('INTERNAL', `the server failed: ${answer.reply.error}`) }
        return { outcome: 'replied', record: answer.reply.record ?? Buffer.alloc(0) }
      }
      if (answer.kind === 'lost') return { outcome: 'peer_lost', error: answer.error }
      if (answer.kind === 'error') {
        const code = answer.error.code
        // "Nobody serves it here" names the topic (responders.ts); NO_RESPONDERS because the
        // peer's server disconnected mid-request does not, and must not be retried elsewhere.
        if (code === 'NO_RESPONDERS' && answer.error.details?.topic === req.topic) continue
        // A broker shutting down refuses before handing anything to a server: the next one may have one.
        if (code === 'SHUTTING_DOWN') {
          skipped.push(`broker ${link.peer.id}: shutting down`)
          continue
        }
        return { outcome: code === 'TIMEOUT' ? 'timeout' : 'failed', error: answer.error }
      }
      if (answer.kind === 'data' || answer.kind === 'ok') return { outcome: 'failed', error: new SkiffError('INTERNAL', `broker ${link.peer.id} answered a request with ${answer.kind === 'ok' ? 'OK' : 'replication data'}`) }
      if (answer.kind === 'busy') busy = true
      skipped.push(`broker ${link.peer.id}: ${answer.reason}`)
    }
    if (busy) {
      return { outcome: 'overloaded', error: new SkiffError('OVERLOADED', `no server of ${req.topic} here, and the links to other brokers are full (${skipped.join('; ')})`, { details: { topic: req.topic } }) }
    }
    const also = skipped.length > 0 ? ` (not asked: ${skipped.join('; ')})` : ''
    return {
      outcome: 'no_responders',
      error: new SkiffError('NO_RESPONDERS', `nobody serves requests on ${req.topic} on any broker of the cluster${also}`, { details: { topic: req.topic } }),
    }
  }

  /** The link to broker `id` when it is live (shared by forwarded requests and replication fetches). */
  linkTo(id: number): PeerLink | undefined {
    return this.peers().find((l) => l.peer.id === id)
  }

  /** A link per live peer; links of brokers that left or restarted are closed. */
  private peers(): PeerLink[] {
    if (this.closed || (this.opts.auth.enabled && !this.hello().token)) return []
    const { brokers } = this.opts.node.view
    const self = this.opts.node.brokerId
    const out: PeerLink[] = []
    for (const [id, link] of this.links) {
      const b = brokers.get(id)
      if (!b || b.host !== link.peer.host || b.port !== link.peer.port || b.incarnation !== link.peer.incarnation) {
        link.close()
        this.links.delete(id)
      }
    }
    for (const [id, b] of [...brokers].sort((x, y) => x[0] - y[0])) {
      if (id === self) continue
      let link = this.links.get(id)
      if (!link) {
        const perConnection = this.opts.config.maxRequestsPerConnection
        link = new PeerLink({
          peer: { id, host: b.host, port: b.port, incarnation: b.incarnation },
          hello: () => this.hello(),
          tls: this.opts.tls,
          maxInFlight: perConnection > 0 ? Math.min(perConnection, MAX_FORWARDED_IN_FLIGHT_PER_PEER) : MAX_FORWARDED_IN_FLIGHT_PER_PEER,
          log: this.opts.log,
        })
        this.links.set(id, link)
      }
      out.push(link)
    }
    return out
  }

  /** HELLO of the links: the broker user of the auth file as it is now (a reload may change it). */
  private hello(): PeerHello {
    const client = `skiff-broker/${this.opts.node.brokerId}`
    if (!this.opts.auth.enabled) return { client }
    const users = this.opts.auth.users()
    // The table is replaced whole on reload: look the broker user up once per table, not per request.
    if (this.helloOf?.users !== users) {
      const user = users.find((u) => u.broker && u.token !== undefined)
      this.helloOf = { users, hello: user ? { client, user: user.name, token: user.token } : { client } }
    }
    return this.helloOf.hello
  }

  close(): void {
    this.closed = true
    for (const link of this.links.values()) link.close()
    this.links.clear()
  }
}
