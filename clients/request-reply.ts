/**
 * Request/reply on the client: `client.request()` asks whoever serves a topic
 * and waits for one reply; `client.serve()` answers requests on a topic.
 * The broker routes both through its gateway only (PROTOCOL.md
 * "Request/reply"): no log, no disk, at most once.
 *
 * Decision: the requester keeps its own deadline (TIMEOUT after timeoutMs)
 * and tells the broker the same timeout, so the broker forgets the request
 * when the requester does. A request is never re-sent after a reconnect:
 * it may have reached the server already, and at-most-once is the contract.
 * The broker's NO_RESPONDERS and a server's failure (ERROR INTERNAL with the
 * server's message) reach the caller as they are.
 *
 * Decision: serving is per connection on the broker, so the client SERVEs
 * every open subscription again after a reconnect (like consumers
 * re-subscribe). A handler's return value is the reply payload, encoded like
 * a published payload (payload.ts); a thrown error becomes a REPLY with
 * `error` carrying its message, so the requester learns it failed instead of
 * waiting for its timeout.
 */
import { Op, SkiffError, checkName, decodeRecord, encodeRecord, encodeReply, encodeRequest, encodeServe, decodeReply, type Headers, type RequestFrame } from '../protocol/index.js'
import type { Connection } from './connection.js'
import { decodePayload, encodePayload } from './payload.js'

/** Options of {@link Client.request}. */
export interface RequestOptions {
  /** Give up with TIMEOUT after this long. Default: the client's requestTimeoutMs. */
  timeoutMs?: number
  /** Headers of the request record (a content-type here wins over the payload's own). */
  headers?: Headers
  /** Key of the request record (the server sees it; routing ignores it). */
  key?: string
}

/** A request as a server's handler sees it, or a reply as the requester gets it. */
export class RequestMessage {
  /** @internal */
  constructor(
    /** The served topic. */
    readonly topic: string,
    /** The key it was sent with, if any. */
    readonly key: string | undefined,
    /** Its headers; `content-type` tells decode() how to read the payload. */
    readonly headers: Headers,
    /** The payload bytes as sent. */
    readonly payload: Buffer,
  ) {}

  /** The payload by its content-type: MessagePack -> value, JSON -> parsed, text -> string, else the bytes. */
  decode<T = unknown>(): T {
    return decodePayload(this.payload, this.headers) as T
  }
}

/** What a handler returns: the reply payload (any value publish() accepts), or a promise of it. */
export type ServeHandler = (request: RequestMessage) => unknown

/** What serve() gives back: close() stops serving (UNSERVE). */
export interface Service {
  readonly topic: string
  close(): Promise<void>
}

/** What request/reply needs from the client. @internal */
export interface RequestHost {
  readonly requestTimeoutMs: number
  ready(timeoutMs: number, what: string): Promise<Connection>
  readonly current: Connection | undefined
  report(err: Error): void
}

const MAX_TIMEOUT_MS = 10 * 60 * 1000

/** Send one request and wait for its reply. @internal */
export async function sendRequest(host: RequestHost, topic: string, value: unknown, opts: RequestOptions = {}): Promise<RequestMessage> {
  checkName('topic', topic)
  const timeoutMs = opts.timeoutMs ?? host.requestTimeoutMs
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new SkiffError('INVALID_REQUEST', `timeoutMs must be an integer in 1..${MAX_TIMEOUT_MS}, got ${timeoutMs}`)
  }
  const deadline = Date.now() + timeoutMs
  const what = `request on ${topic}`
  const conn = await host.ready(timeoutMs, what)
  const { bytes, headers } = encodePayload(value, opts.headers)
  const record = encodeRecord({ key: opts.key, headers, payload: bytes })
  const corr = conn.nextCorr()
  const left = Math.max(1, deadline - Date.now())
  const answer = await conn.request(corr, encodeRequest({ corr, topic, record, timeoutMs: left }), what, left)
  if (answer.opcode !== Op.REPLY) throw new SkiffError('BAD_FRAME', `expected REPLY to a request on ${topic}, got opcode ${answer.opcode}`)
  const r = decodeReply(answer.body)
  const rec = r.record && r.record.length > 0 ? decodeRecord(r.record) : { key: undefined, headers: {}, payload: Buffer.alloc(0) }
  return new RequestMessage(topic, rec.key, rec.headers, rec.payload)
}

/** The topics this client serves, and the handling of REQUEST frames. @internal */
export class Services {
  private readonly handlers = new Map<string, ServeHandler>()

  constructor(private readonly host: RequestHost) {}

  async serve(topic: string, handler: ServeHandler): Promise<Service> {
    checkName('topic', topic)
    if (typeof handler !== 'function') throw new SkiffError('INVALID_REQUEST', 'the serve handler must be a function')
    if (this.handlers.has(topic)) throw new SkiffError('INVALID_REQUEST', `this client already serves ${topic}`)
    this.handlers.set(topic, handler)
    try {
      const conn = await this.host.ready(this.host.requestTimeoutMs, `SERVE ${topic}`)
      await this.send(conn, Op.SERVE, topic)
    } catch (err) {
      this.handlers.delete(topic)
      throw err
    }
    let closed: Promise<void> | undefined
    return {
      topic,
      close: () => (closed ??= this.unserve(topic)),
    }
  }

  /** SERVE every topic again on a new connection; rejects with the first failure. */
  async restore(conn: Connection): Promise<void> {
    await Promise.all([...this.handlers.keys()].map((topic) => this.send(conn, Op.SERVE, topic)))
  }

  /** A REQUEST from the broker: run the handler, answer with REPLY on the same connection. */
  onRequest(req: RequestFrame, conn: Connection): void {
    const handler = this.handlers.get(req.topic)
    const reply = (body: { record?: Buffer; error?: string }) => {
      if (!conn.isOpen) return // the broker already told the requester NO_RESPONDERS
      try {
        conn.send(encodeReply({ corr: req.corr, ...body }))
      } catch (err) {
        // Too large a reply, say: tell the requester rather than leave it waiting.
        if (body.record) conn.send(encodeReply({ corr: req.corr, error: (err as Error).message }))
      }
    }
    if (!handler) return reply({ error: `this client no longer serves ${req.topic}` })
    Promise.resolve()
      .then(() => {
        const rec = decodeRecord(req.record)
        return handler(new RequestMessage(req.topic, rec.key, rec.headers, rec.payload))
      })
      .then((value) => {
        const { bytes, headers } = encodePayload(value ?? Buffer.alloc(0))
        reply({ record: encodeRecord({ headers, payload: bytes }) })
      })
      .catch((err: unknown) => {
        const message = err instanceof Error ? err.message : String(err)
        this.host.report(new SkiffError('INTERNAL', `serve handler for ${req.topic} failed: ${message}`, { cause: err }))
        reply({ error: message })
      })
  }

  private async unserve(topic: string): Promise<void> {
    if (!this.handlers.delete(topic)) return
    const conn = this.host.current
    if (!conn?.isOpen) return // the broker forgot this connection's SERVEs with it
    await this.send(conn, Op.UNSERVE, topic)
  }

  private send(conn: Connection, op: typeof Op.SERVE | typeof Op.UNSERVE, topic: string): Promise<unknown> {
    const corr = conn.nextCorr()
    return conn.request(corr, encodeServe(op, { corr, topic }), `${op === Op.SERVE ? 'SERVE' : 'UNSERVE'} ${topic}`)
  }
}
