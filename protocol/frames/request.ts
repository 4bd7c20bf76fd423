/**
 * Request/reply: requests go to a connection that serves the topic, through
 * the broker's gateway only — no log, no disk, at-most-once. A requester that
 * gets no reply in time gives up on its own (client-side TIMEOUT).
 *
 * SERVE (0x52), client -> broker: answer requests on a topic; OK or ERROR.
 *   corr   uint
 *   topic  string   a topic name (the same rules as log topics; it need not exist)
 *
 * UNSERVE (0x53), client -> broker: stop; OK or ERROR.
 *   corr   uint
 *   topic  string
 *
 * REQUEST (0x50), client -> broker, and broker -> serving client.
 *   corr       uint   client -> broker: the requester's id, echoed by REPLY or ERROR;
 *                     broker -> server: the broker's id for the request, to echo in REPLY
 *   topic      string
 *   record     bin    one record in the record encoding (key, headers, payload)
 *   timeoutMs  uint?  how long the requester waits (default 30000); the broker forgets the
 *                     request after it
 *   forwarded  bool?  broker -> peer broker only (cluster mode): the first broker found no
 *                     server of its own and already checked the requester's permission; the
 *                     receiver hands it to a server of its own or answers NO_RESPONDERS, and
 *                     never forwards it again. Accepted only from a broker's connection
 *                     (FORBIDDEN otherwise). Omitted (false) by clients.
 *
 * REPLY (0x51), serving client -> broker, and broker -> requester.
 *   corr    uint   the REQUEST's corr as the receiver of that REQUEST saw it
 *   record  bin?   the reply record
 *   error   string? the server's error message instead of a record (delivered to the requester
 *                   as ERROR INTERNAL with that message)
 *
 * The broker picks one serving connection per request, round-robin. No server:
 * ERROR NO_RESPONDERS. The chosen server disconnects before replying: ERROR
 * NO_RESPONDERS for that request.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { MAX_NAME_FIELD } from './limits.js'

export interface Serve {
  corr: number
  topic: string
}

export interface RequestFrame {
  corr: number
  topic: string
  record: Buffer
  timeoutMs?: number | undefined
  /** Sent by a broker to a peer broker: serve it locally or answer NO_RESPONDERS, never forward it. */
  forwarded?: boolean | undefined
}

export interface Reply {
  corr: number
  record?: Buffer | undefined
  error?: string | undefined
}

export const MAX_REQUEST_TIMEOUT_MS = 10 * 60 * 1000

export function encodeServe(op: typeof Op.SERVE | typeof Op.UNSERVE, s: Serve): Buffer {
  return encodeFrame(op, s)
}

export function decodeServe(frame: string, body: Buffer): Serve {
  const f = new Fields(frame, body)
  return { corr: f.uint('corr'), topic: f.str('topic', MAX_NAME_FIELD) }
}

export function encodeRequest(r: RequestFrame): Buffer {
  const body: Record<string, unknown> = { corr: r.corr, topic: r.topic, record: r.record }
  if (r.timeoutMs !== undefined) body.timeoutMs = r.timeoutMs
  if (r.forwarded) body.forwarded = true
  return encodeFrame(Op.REQUEST, body)
}

export function decodeRequest(body: Buffer): RequestFrame {
  const f = new Fields('REQUEST', body)
  const r: RequestFrame = { corr: f.uint('corr'), topic: f.str('topic', MAX_NAME_FIELD), record: f.bin('record'), timeoutMs: f.optUint('timeoutMs', MAX_REQUEST_TIMEOUT_MS) }
  if (f.bool('forwarded', false)) r.forwarded = true
  return r
}

export function encodeReply(r: Reply): Buffer {
  const body: Record<string, unknown> = { corr: r.corr }
  if (r.record !== undefined) body.record = r.record
  if (r.error !== undefined) body.error = r.error
  return encodeFrame(Op.REPLY, body)
}

export function decodeReply(body: Buffer): Reply {
  const f = new Fields('REPLY', body)
  const r: Reply = { corr: f.uint('corr') }
  if (f.has('record')) r.record = f.bin('record')
  if (f.has('error')) r.error = f.str('error', 65536)
  return r
}
