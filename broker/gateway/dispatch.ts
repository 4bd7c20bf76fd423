/**
 * One handler per opcode. Before a successful HELLO only HELLO is accepted:
 * anything else is UNAUTHORIZED and a close, and so is a HELLO that fails.
 * After it, every frame first checks that the connection's user still holds
 * (not revoked by an auth-file reload, not expired). Reserved and unknown opcodes are
 * INVALID_REQUEST (the frame was well delimited, so the stream is still good).
 * A body that is not MessagePack is BAD_FRAME and closes the connection; a body
 * with wrong fields is INVALID_REQUEST, answered with the request's corr when
 * it has one, and the connection stays open.
 */
import { Op, SkiffError, opcodeName, unpack, type Frame } from '../../protocol/index.js'
import type { Connection } from './connection.js'
import { onHello } from './handlers/hello.js'
import { onPing } from './handlers/ping.js'
import { onPublish } from './handlers/publish.js'
import { onSubscribe, onUnsubscribe } from './handlers/subscribe.js'
import { onAck } from './handlers/ack.js'
import { onServe, onUnserve, onRequest, onReply } from './handlers/request.js'
import { onTopicCreate, onTopicDescribe, onTopicList, onTopicDelete, onGroupList, onGroupDescribe } from './handlers/admin.js'

type Handler = (conn: Connection, body: Buffer) => void | Promise<void>

const handlers = new Map<number, Handler>([
  [Op.PING, onPing],
  [Op.PONG, () => {}],
  [Op.PUBLISH, onPublish],
  [Op.SUBSCRIBE, onSubscribe],
  [Op.UNSUBSCRIBE, onUnsubscribe],
  [Op.ACK, onAck],
  [Op.TOPIC_CREATE, onTopicCreate],
  [Op.TOPIC_DESCRIBE, onTopicDescribe],
  [Op.TOPIC_LIST, onTopicList],
  [Op.TOPIC_DELETE, onTopicDelete],
  [Op.GROUP_LIST, onGroupList],
  [Op.GROUP_DESCRIBE, onGroupDescribe],
  [Op.SERVE, onServe],
  [Op.UNSERVE, onUnserve],
  [Op.REQUEST, onRequest],
  [Op.REPLY, onReply],
])

export function dispatch(conn: Connection, frame: Frame): void {
  if (!conn.ready) {
    if (frame.opcode !== Op.HELLO) {
      conn.fail(new SkiffError('UNAUTHORIZED', `${opcodeName(frame.opcode)} before HELLO`))
      return
    }
    hello(conn, frame)
    return
  }
  // A reload may have revoked this user, or its entry expired: checked before every request.
  const revoked = conn.user && conn.ctx.auth.check(conn.user)
  if (revoked) {
    conn.fail(revoked)
    return
  }
  if (frame.opcode === Op.HELLO) {
    conn.error(new SkiffError('INVALID_REQUEST', 'HELLO was already accepted on this connection'))
    return
  }
  const handler = handlers.get(frame.opcode)
  if (!handler) {
    conn.error(new SkiffError('INVALID_REQUEST', `opcode ${opcodeName(frame.opcode)} is not served by this broker`), peekCorr(frame.body))
    return
  }
  run(conn, frame, handler)
}

/** A HELLO that fails for any reason (bad fields, wrong token, ...) ends the connection. */
function hello(conn: Connection, frame: Frame): void {
  const refuse = (err: unknown) => {
    if (!(err instanceof SkiffError)) conn.ctx.logger.error({ conn: conn.id, err: (err as Error)?.stack }, 'HELLO failed')
    conn.fail(err instanceof SkiffError ? err : new SkiffError('INTERNAL', 'the broker failed to handle HELLO'))
  }
  try {
    onHello(conn, frame.body).catch(refuse)
  } catch (err) {
    refuse(err)
  }
}

function run(conn: Connection, frame: Frame, handler: Handler): void {
  try {
    const r = handler(conn, frame.body)
    if (r) r.catch((err: unknown) => report(conn, frame, err))
  } catch (err) {
    report(conn, frame, err)
  }
}

function report(conn: Connection, frame: Frame, err: unknown): void {
  if (err instanceof SkiffError) {
    conn.error(err, err.fatal ? undefined : peekCorr(frame.body))
    return
  }
  conn.ctx.logger.error({ conn: conn.id, op: opcodeName(frame.opcode), err: (err as Error)?.stack }, 'handler failed')
  conn.error(new SkiffError('INTERNAL', 'the broker failed to handle the request'), peekCorr(frame.body))
}

/** The corr of a request whose fields were wrong, so the error can still be matched. */
function peekCorr(body: Buffer): number | undefined {
  try {
    const v = unpack(body) as { corr?: unknown }
    return typeof v?.corr === 'number' && Number.isInteger(v.corr) && v.corr >= 0 ? v.corr : undefined
  } catch {
    return undefined
  }
}
