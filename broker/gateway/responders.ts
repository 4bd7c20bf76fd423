/**
 * Request/reply routing, entirely on the gateway: which connections serve
 * which topic, and which requests wait for which server. Nothing touches a
 * worker or the disk; a request lives only until its reply or its timeout.
 * Servers of a topic take requests round-robin.
 */
import { SkiffError, encodeReply, encodeRequest, type RequestFrame } from '../../protocol/index.js'
import type { Connection } from './connection.js'

/** Requests waiting for replies, broker-wide: past this, new requests are refused. */
export const MAX_PENDING_REQUESTS = 100_000
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

interface Pending {
  requester: Connection
  corr: number
  server: Connection
  timer: NodeJS.Timeout
}

export class Responders {
  private readonly byTopic = new Map<string, Connection[]>()
  private readonly turn = new Map<string, number>()
  private readonly pending = new Map<number, Pending>()
  private nextId = 1

  serve(conn: Connection, topic: string): void {
    const list = this.byTopic.get(topic) ?? []
    if (!list.includes(conn)) list.push(conn)
    this.byTopic.set(topic, list)
    conn.served.add(topic)
  }

  unserve(conn: Connection, topic: string): void {
    const list = this.byTopic.get(topic)?.filter((c) => c !== conn) ?? []
    if (list.length > 0) this.byTopic.set(topic, list)
    else this.byTopic.delete(topic)
    conn.served.delete(topic)
  }

  request(requester: Connection, req: RequestFrame): void {
    const servers = this.byTopic.get(req.topic)
    if (!servers || servers.length === 0) throw new SkiffError('NO_RESPONDERS', `nobody serves requests on ${req.topic}`, { details: { topic: req.topic } })
    if (this.pending.size >= MAX_PENDING_REQUESTS) throw new SkiffError('INTERNAL', `more than ${MAX_PENDING_REQUESTS} requests are waiting for replies`)
    const i = (this.turn.get(req.topic) ?? 0) % servers.length
    this.turn.set(req.topic, i + 1)
    const server = servers[i]!
    const id = this.nextId++
    const timeoutMs = req.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    const timer = setTimeout(() => this.pending.delete(id), timeoutMs)
    timer.unref()
    this.pending.set(id, { requester, corr: req.corr, server, timer })
    server.send(encodeRequest({ corr: id, topic: req.topic, record: req.record, timeoutMs }))
  }

  /** A server's reply; replies to unknown, expired or someone else's requests are dropped. */
  reply(server: Connection, corr: number, record: Buffer | undefined, error: string | undefined): void {
    const p = this.pending.get(corr)
    if (!p || p.server !== server) return
    this.pending.delete(corr)
    clearTimeout(p.timer)
    if (error !== undefined) p.requester.error(new SkiffError('INTERNAL', `the server failed: ${error}`), p.corr)
    else p.requester.send(encodeReply({ corr: p.corr, record: record ?? Buffer.alloc(0) }))
  }

  connectionGone(conn: Connection): void {
    for (const topic of [...conn.served]) this.unserve(conn, topic)
    for (const [id, p] of this.pending) {
      if (p.requester === conn) {
        clearTimeout(p.timer)
        this.pending.delete(id)
      } else if (p.server === conn) {
        clearTimeout(p.timer)
        this.pending.delete(id)
        p.requester.error(new SkiffError('NO_RESPONDERS', 'the server handling the request disconnected'), p.corr)
      }
    }
  }
}
