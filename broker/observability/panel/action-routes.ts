/**
 * POST /api/actions/<name>: the panel's actions, for the admin role only.
 *
 *   publish            { topic, key?, payload, contentType? }  -> { topic, partition, offset }
 *   peek               { topic, partition?, offset?, count? }   -> { topic, partition, messages }
 *   close-connection   { id, reason? }                          -> { id, closed }
 *   purge-topic        { topic }
 *   delete-group       { topic, group }
 *   reset-group        { topic, group, to: earliest|latest|<offset> }
 *
 * Order of checks: login (http-access.ts, before this), then CSRF
 * (crossSiteRefusal), then the admin role, then the body. Every attempt that
 * got past the login is logged as one `panel action` line: who, what, from
 * where, and the outcome (refusals included); payloads are never logged,
 * only their size.
 *
 * Errors are JSON `{ error: { code, message } }` with an HTTP status that
 * follows the code (INVALID_REQUEST 400, FORBIDDEN 403, UNKNOWN_* 404, the
 * retriable ones 503), so the page can show the broker's own message.
 */
import type http from 'node:http'
import { SkiffError, type ErrorName } from '../../../protocol/index.js'
import type { BrokerView } from '../broker-view.js'
import { crossSiteRefusal, type PanelUser } from '../http-access.js'
import { closeConnectionAction, peekAction, publishAction, type Actor } from './actions.js'
import { deleteGroup, purgeTopic, resetGroup } from './admin-actions.js'
import { int, string } from './json-input.js'

type Action = (broker: BrokerView, body: Record<string, unknown>, actor: Actor) => unknown

const ACTIONS: Record<string, Action> = {
  publish: (broker, body) => publishAction(broker, body),
  peek: (broker, body) => peekAction(broker, body),
  'close-connection': (broker, body, actor) => closeConnectionAction(broker, body, actor),
  'purge-topic': (broker, body) => purgeTopic(broker, string(body, 'topic')),
  'delete-group': (broker, body) => deleteGroup(broker, { topic: string(body, 'topic'), group: string(body, 'group'), force: body.force === true }),
  'reset-group': (broker, body) => resetGroup(broker, { topic: string(body, 'topic'), group: string(body, 'group'), to: resetTarget(body), force: body.force === true }),
}

export const ACTION_NAMES = Object.keys(ACTIONS)

function resetTarget(body: Record<string, unknown>): 'earliest' | 'latest' | number {
  const to = body.to ?? 'earliest'
  if (to === 'earliest' || to === 'latest') return to
  const offset = int(body, 'to', 0, Number.MAX_SAFE_INTEGER)
  if (offset === undefined) throw new SkiffError('INVALID_REQUEST', 'to must be earliest, latest or an offset')
  return offset
}

export interface ActionReply {
  status: number
  body: unknown
}

const STATUS: Partial<Record<ErrorName, number>> = {
  INVALID_REQUEST: 400,
  GROUP_IN_USE: 409,
  FORBIDDEN: 403,
  UNKNOWN_TOPIC: 404,
  UNKNOWN_GROUP: 404,
  // Asked of a broker that does not lead (or hold) the partition: its leader's panel takes it.
  NOT_LEADER: 421,
  PARTITION_UNAVAILABLE: 503,
  TIMEOUT: 504,
}

function failure(status: number, code: string, message: string): ActionReply {
  return { status, body: { error: { code, message } } }
}

/** What the fields of an action's body say about its target, for the audit line (never the payload itself). */
function target(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of ['topic', 'group', 'partition', 'offset', 'count', 'id', 'reason', 'to', 'key', 'contentType']) if (body[k] !== undefined) out[k] = body[k]
  if (typeof body.payload === 'string') out.payloadBytes = Buffer.byteLength(body.payload)
  return out
}

export async function runAction(broker: BrokerView, name: string, req: http.IncomingMessage, who: PanelUser): Promise<ActionReply> {
  const actor: Actor = { user: who.user, from: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}` }
  const audit = (result: string, fields: Record<string, unknown> = {}) =>
    broker.logger.info({ audit: 'panel', action: name, user: actor.user, from: actor.from, result, ...fields }, 'panel action')
  const action = ACTIONS[name]
  if (!action) return failure(404, 'INVALID_REQUEST', `no action ${name}: try ${ACTION_NAMES.join(', ')}`)
  const refusal = crossSiteRefusal(req)
  if (refusal) {
    audit('refused', { status: refusal.status, origin: req.headers.origin })
    return failure(refusal.status, 'FORBIDDEN', refusal.message.trim())
  }
  if (!who.admin) {
    audit('forbidden')
    return failure(403, 'FORBIDDEN', `user ${who.user} may not act from the panel: actions need "admin": true in the auth file`)
  }
  let body: Record<string, unknown>
  try {
    body = await readJson(req, Math.max(64 * 1024, broker.config.maxFrame))
  } catch (err) {
    const e = err as SkiffError
    audit('bad request', { err: e.message })
    return failure(e.codeName === 'OVERLOADED' ? 413 : 400, e.codeName ?? 'INVALID_REQUEST', e.message)
  }
  try {
    const result = await action(broker, body, actor)
    audit('ok', target(body))
    return { status: 200, body: result }
  } catch (err) {
    if (!(err instanceof SkiffError)) throw err
    audit(err.codeName, { ...target(body), err: err.message })
    return failure(STATUS[err.codeName] ?? (err.retriable ? 503 : 400), err.codeName, err.message)
  }
}

/** The request's body as a JSON object; INVALID_REQUEST when it is not one, OVERLOADED past `limit` bytes. */
function readJson(req: http.IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) chunks.push(chunk)
      else chunks = [] // the rest is read and dropped, so the answer can still be sent (requestTimeout bounds a slow sender)
    })
    req.on('error', reject)
    req.on('end', () => {
      if (size > limit) return reject(new SkiffError('OVERLOADED', `the body is larger than ${limit} bytes`))
      let value: unknown
      try {
        value = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch (err) {
        return reject(new SkiffError('INVALID_REQUEST', `the body is not JSON: ${(err as Error).message}`))
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return reject(new SkiffError('INVALID_REQUEST', 'the body must be a JSON object'))
      resolve(value as Record<string, unknown>)
    })
  })
}
