/**
 * Request/reply routing, entirely on the gateway: which connections serve
 * which topic, and which requests wait for which server. Nothing touches a
 * worker or the disk; a request lives only until its reply or its timeout.
 * Servers of a topic take requests round-robin.
 *
 * In a cluster, a request without a server here goes to the other brokers
 * (cluster/peer-forward.ts), unless it came forwarded from one of them: then
 * it is served here or answered NO_RESPONDERS, never forwarded again.
 */
import { SkiffError, encodeReply, encodeRequest, type RequestFrame } from '../../protocol/index.js'
import type { HandlerConnection } from './handler-connection.js'
import { PendingRequests } from './pending-requests.js'
import type { PeerForwarder } from '../cluster/peer-forward.js'

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

export class Responders {
  private readonly byTopic = new Map<string, HandlerConnection[]>()
  private readonly turn = new Map<string, number>()
  /** Requests waiting for replies, within maxRequestsPerConnection and maxPendingRequests (pending-requests.ts). */
  private readonly pending = new PendingRequests()
  /** Set once this broker has joined a cluster (broker/index.ts). */
  forwarder: PeerForwarder | undefined

  serve(conn: HandlerConnection, topic: string): void {
    const list = this.byTopic.get(topic) ?? []
    if (!list.includes(conn)) list.push(conn)
    this.byTopic.set(topic, list)
    conn.served.add(topic)
  }

  unserve(conn: HandlerConnection, topic: string): void {
    const list = this.byTopic.get(topic)?.filter((c) => c !== conn) ?? []
    if (list.length > 0) this.byTopic.set(topic, list)
    else this.byTopic.delete(topic)
    conn.served.delete(topic)
  }

  request(requester: HandlerConnection, req: RequestFrame): void {
    const servers = this.byTopic.get(req.topic)
    if ((!servers || servers.length === 0) && this.forwarder && !req.forwarded) return this.forwarder.forward(requester, req, this.pending.heldBy(requester))
    // details.topic tells a forwarding broker "nobody here": it then asks the next broker (peer-forward.ts).
    if (!servers || servers.length === 0) throw new SkiffError('NO_RESPONDERS', `nobody serves requests on ${req.topic}`, { details: { topic: req.topic } })
    const i = (this.turn.get(req.topic) ?? 0) % servers.length
    const server = servers[i]!
    const timeoutMs = req.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    // Admitted (or refused) before the turn moves on, so a refusal leaves the round-robin as it was.
    const { id } = this.pending.add(requester, req.corr, server, timeoutMs, requester.ctx.config)
    this.turn.set(req.topic, i + 1)
    server.send(encodeRequest({ corr: id, topic: req.topic, record: req.record, timeoutMs }))
  }

  /** A server's reply; replies to unknown, expired or someone else's requests are dropped. */
  reply(server: HandlerConnection, corr: number, record: Buffer | undefined, error: string | undefined): void {
    const p = this.pending.take(corr, server)
    if (!p) return
    if (error !== undefined) p.requester.error(new SkiffError('INTERNAL', `the server failed: ${error}`), p.corr)
    else p.requester.send(encodeReply({ corr: p.corr, record: record ?? Buffer.alloc(0) }))
  }

  /** Its served topics and its requests are forgotten; requests it was serving fail NO_RESPONDERS. Touches only its own requests. */
  connectionGone(conn: HandlerConnection): void {
    for (const topic of [...conn.served]) this.unserve(conn, topic)
    for (const p of this.pending.connectionGone(conn)) {
      p.requester.error(new SkiffError('NO_RESPONDERS', 'the server handling the request disconnected'), p.corr)
    }
  }
}
