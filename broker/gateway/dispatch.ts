/**
 * One handler per opcode. Before a successful HELLO only HELLO is accepted:
 * anything else is UNAUTHORIZED and a close, and so is a HELLO that fails.
 * After it, every frame first checks that the connection's user still holds
 * (not revoked by an auth-file reload, not expired). Reserved and unknown opcodes are
 * INVALID_REQUEST (the frame was well delimited, so the stream is still good).
 * A body that is not MessagePack of the protocol's grammar (extension types,
 * non-string map keys, nesting past MAX_DEPTH: protocol/msgpack-check.ts) is
 * BAD_FRAME and closes the connection, before HELLO as after; a body with
 * wrong fields is INVALID_REQUEST, answered with the request's corr when it
 * has one, and the connection stays open.
 *
 * A body is decoded once. The corr an error answer carries is the one the
 * handler's decoder noted (protocol/fields.ts, takeCorr), taken right after
 * the handler's synchronous part, where every handler decodes its body; the
 * body is not decoded again to find it.
 */
import { Fields, Op, SkiffError, opcodeName, takeCorr, type Frame } from '../../protocol/index.js'
import type { HandlerConnection, HandshakeConnection } from './handler-connection.js'
import { onHello } from './handlers/hello.js'
import { onPing } from './handlers/ping.js'
import { onPublish } from './handlers/publish.js'
import { onSubscribe, onUnsubscribe } from './handlers/subscribe.js'
import { onAck } from './handlers/ack.js'
import { onServe, onUnserve, onRequest, onReply } from './handlers/request.js'
import { onTopicCreate, onTopicDescribe, onTopicList, onTopicDelete, onGroupList, onGroupDescribe } from './handlers/admin.js'
import { onGroupDelete, onGroupReset, onTopicAlter, onTopicPurge } from './handlers/manage.js'
import { onMetadata } from './handlers/metadata.js'
import { onReplFetch } from './handlers/replication.js'

type Handler = (conn: HandlerConnection, body: Buffer) => void | Promise<void>

/** What the dispatcher needs of a connection (Connection, or a test's stand-in): HELLO's view, and an end with a final ERROR. */
export interface DispatchedConnection extends HandshakeConnection {
  fail(err: SkiffError, corr?: number): void
}

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
  [Op.GROUP_DELETE, onGroupDelete],
  [Op.GROUP_RESET, onGroupReset],
  [Op.TOPIC_PURGE, onTopicPurge],
  [Op.TOPIC_ALTER, onTopicAlter],
  [Op.METADATA, onMetadata],
  [Op.REPL_FETCH, onReplFetch],
  [Op.SERVE, onServe],
  [Op.UNSERVE, onUnserve],
  [Op.REQUEST, onRequest],
  [Op.REPLY, onReply],
])

export function dispatch(conn: DispatchedConnection, frame: Frame): void {
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
    conn.error(new SkiffError('INVALID_REQUEST', `opcode ${opcodeName(frame.opcode)} is not served by this broker`), corrOfUnserved(frame.body))
    return
  }
  run(conn, frame, handler)
}

/** A HELLO that fails for any reason (bad fields, wrong token, ...) ends the connection. */
function hello(conn: DispatchedConnection, frame: Frame): void {
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

function run(conn: DispatchedConnection, frame: Frame, handler: Handler): void {
  takeCorr() // forget a corr noted by anything before this handler
  let r: void | Promise<void>
  try {
    r = handler(conn, frame.body)
  } catch (err) {
    report(conn, frame, err, takeCorr())
    return
  }
  if (!r) return
  const corr = takeCorr()
  r.catch((err: unknown) => report(conn, frame, err, corr))
}

function report(conn: DispatchedConnection, frame: Frame, err: unknown, corr: number | undefined): void {
  if (err instanceof SkiffError) {
    conn.error(err, err.fatal ? undefined : corr)
    return
  }
  conn.ctx.logger.error({ conn: conn.id, op: opcodeName(frame.opcode), err: (err as Error)?.stack }, 'handler failed')
  conn.error(new SkiffError('INTERNAL', 'the broker failed to handle the request'), corr)
}

/**
 * The corr of a frame no handler reads (an opcode this broker does not
 * serve), so the INVALID_REQUEST can still be matched: its only decode. A body
 * that does not decode gets the answer without a corr; the stream is still
 * in step, so the connection stays open.
 */
function corrOfUnserved(body: Buffer): number | undefined {
  takeCorr()
  try {
    new Fields('frame', body)
  } catch {
    return undefined
  }
  return takeCorr()
}
