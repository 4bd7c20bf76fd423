/** SERVE, UNSERVE, REQUEST and REPLY: request/reply through the gateway (see responders.ts). */
import { SkiffError, checkName, decodeReply, decodeRequest, decodeServe, encodeOk, walkRecords } from '../../../protocol/index.js'
import type { HandlerConnection } from '../handler-connection.js'
import { requireAccess } from '../../auth/guard.js'

/** Topics one connection may serve at once. */
export const MAX_SERVED_TOPICS = 1000

export function onServe(conn: HandlerConnection, body: Buffer): void {
  const s = decodeServe('SERVE', body)
  checkName('topic', s.topic)
  requireAccess(conn, 'subscribe', s.topic) // serving a topic means receiving what is sent to it
  if (!conn.served.has(s.topic) && conn.served.size >= MAX_SERVED_TOPICS) {
    throw new SkiffError('INVALID_REQUEST', `a connection may serve at most ${MAX_SERVED_TOPICS} topics`)
  }
  conn.ctx.responders.serve(conn, s.topic)
  conn.send(encodeOk(s.corr))
}

export function onUnserve(conn: HandlerConnection, body: Buffer): void {
  const s = decodeServe('UNSERVE', body)
  conn.ctx.responders.unserve(conn, s.topic)
  conn.send(encodeOk(s.corr))
}

export function onRequest(conn: HandlerConnection, body: Buffer): void {
  const r = decodeRequest(body)
  checkName('topic', r.topic)
  // A forwarded request's requester was checked for publish by the broker it connected to;
  // only a broker of the cluster may vouch for that (auth-file user marked "broker": true).
  if (r.forwarded) requireBroker(conn)
  else requireAccess(conn, 'publish', r.topic)
  walkRecords(r.record, 1)
  conn.ctx.responders.request(conn, r)
}

/**
 * Without an auth file there are no identities, and every connection may do
 * anything anyway, so any connection may forward; with one, only a user
 * marked "broker": true.
 */
export function requireBroker(conn: HandlerConnection, what = 'send forwarded requests', operation = 'forward'): void {
  if (!conn.ctx.auth.enabled || conn.user?.entry?.broker === true) return
  const user = conn.user?.user ?? 'nobody'
  throw new SkiffError('FORBIDDEN', `user ${user} may not ${what}: only a broker of the cluster may (an auth-file user marked "broker": true)`, {
    details: { user, operation },
  })
}

export function onReply(conn: HandlerConnection, body: Buffer): void {
  const r = decodeReply(body)
  if (r.record !== undefined) walkRecords(r.record, 1)
  conn.ctx.responders.reply(conn, r.corr, r.record, r.error)
}
