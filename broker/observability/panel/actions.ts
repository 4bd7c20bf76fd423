/**
 * What an admin can do from the panel that the broker already knows how to
 * do: publish a message, peek at messages, close a connection. Each takes the
 * parsed JSON body of its POST and returns what the page shows, or throws a
 * SkiffError (action-routes.ts turns it into an HTTP status). Access, CSRF
 * and the audit line are action-routes.ts's; nothing here checks who asks.
 *
 * Decisions written down here:
 * - Publish goes the way of a PUBLISH with confirm: the topic is created when
 *   the broker auto-creates topics (and within maxTopics), a key picks the
 *   partition by the same hash, dead-letter topics are refused, and the answer
 *   comes once the record is durable under the fsync policy. The payload is
 *   text (UTF-8); a content type, when given, is the `content-type` header
 *   the client library reads in msg.decode(). In a cluster a record without
 *   a key goes to a partition this broker leads, and one whose key hashes to
 *   a partition led elsewhere is refused (NOT_LEADER naming the leader, whose
 *   panel takes it), as a PUBLISH sent to the wrong broker is.
 * - Peek reads a partition's log directly in its owning worker (the `peek`
 *   op): no group is created or moved, nothing counts as delivered, and a
 *   consumer sees no difference. Without an offset it shows the last `count`
 *   records, as `tail` would. At most MAX_PEEK records and 256 KiB of log per
 *   peek; each payload is shown up to MAX_SHOWN_BYTES, as UTF-8 text when it
 *   is valid UTF-8, base64 otherwise. In a cluster only a partition this
 *   broker holds a copy of (led or followed) can be peeked here: asking its
 *   worker about another would make an empty copy of it.
 * - Closing a connection sends it an ERROR CONNECTION_CLOSED (retriable)
 *   naming who closed it and why, then closes it, as RabbitMQ's "force close"
 *   does: a client library reconnects, which is what an operator who wants a
 *   client gone for good must stop at its credentials (the auth file).
 */
import { SkiffError, checkName, decodeRecord, encodeRecord, isDeadLetterTopic, type Headers } from '../../../protocol/index.js'
import { splitByPartition } from '../../routing.js'
import type { BrokerView } from '../broker-view.js'
import type { PeekedRecord } from '../../thread-messages.js'
import { int, optionalString, string } from './json-input.js'

export const MAX_PEEK = 100
export const MAX_SHOWN_BYTES = 64 * 1024
const MAX_REASON = 200

export interface Actor {
  user: string
  /** Where the request came from, ip:port. */
  from: string
}

let roundRobin = 0

export async function publishAction(broker: BrokerView, body: Record<string, unknown>): Promise<{ topic: string; partition: number; offset: number }> {
  const topic = string(body, 'topic')
  const key = optionalString(body, 'key')
  const payload = optionalString(body, 'payload') ?? ''
  const contentType = optionalString(body, 'contentType')
  if (broker.draining) throw new SkiffError('SHUTTING_DOWN')
  checkName('topic', topic)
  if (isDeadLetterTopic(topic)) throw new SkiffError('INVALID_REQUEST', `${topic} is a dead-letter topic: only the broker writes to it`)
  const headers: Headers | undefined = contentType ? { 'content-type': contentType } : undefined
  const record = encodeRecord({ key: key || undefined, headers, payload: Buffer.from(payload, 'utf8') })
  const config = broker.topics.get(topic) ?? (await broker.topics.ensure(topic, false))
  const writable = broker.writable(config)
  if (writable.length === 0) throw new SkiffError('NOT_LEADER', `this broker leads no partition of ${topic}: publish from the panel of a broker that does (skiff topics describe ${topic})`, { details: { topic } })
  const [part] = splitByPartition(record, 1, config.partitions, writable[roundRobin++ % writable.length]!)
  const refusal = broker.refusal(topic, part!.partition)
  if (refusal) throw refusal
  const offset = await broker.ask({
    t: 'pub',
    topic,
    partition: part!.partition,
    count: 1,
    records: part!.records,
    confirm: true,
  })
  return { topic, partition: part!.partition, offset }
}

export interface PeekedMessage {
  partition: number
  offset: number
  timestamp: number
  key: string | undefined
  headers: Headers
  size: number
  payload: string
  encoding: 'utf8' | 'base64'
  truncated: boolean
}

export async function peekAction(broker: BrokerView, body: Record<string, unknown>): Promise<{ topic: string; partition: number; messages: PeekedMessage[] }> {
  // Only looked up (dead-letter topics included), never made into a path: no name check needed.
  const topic = string(body, 'topic')
  const config = broker.topics.get(topic)
  if (!config) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist`, { details: { topic } })
  const partition = int(body, 'partition', 0, config.partitions - 1) ?? 0
  if (!broker.holds(topic, partition)) {
    throw new SkiffError('NOT_LEADER', `this broker holds no copy of ${topic}/${partition}: peek from the panel of one of its replicas (skiff topics describe ${topic})`, { details: { topic, partition } })
  }
  const count = int(body, 'count', 1, MAX_PEEK) ?? 10
  let offset = int(body, 'offset', 0, Number.MAX_SAFE_INTEGER)
  if (offset === undefined) {
    const d = await broker.ask({ t: 'describe', topic, partition })
    offset = Math.max(d.startOffset, d.endOffset - count)
  }
  const records = await broker.ask({ t: 'peek', topic, partition, offset, max: count })
  return { topic, partition, messages: records.map((r) => shown(partition, r)) }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function shown(partition: number, r: PeekedRecord): PeekedMessage {
  const { key, headers, payload } = decodeRecord(r.record)
  const cut = payload.subarray(0, MAX_SHOWN_BYTES)
  let text: string | undefined
  try {
    // A cut through a multi-byte character is not invalid text: stream mode leaves it pending.
    text = utf8.decode(cut, { stream: cut.length < payload.length })
  } catch {
    text = undefined
  }
  return {
    partition,
    offset: r.offset,
    timestamp: r.timestamp,
    key,
    headers,
    size: payload.length,
    payload: text ?? cut.toString('base64'),
    encoding: text === undefined ? 'base64' : 'utf8',
    truncated: cut.length < payload.length,
  }
}

export function closeConnectionAction(broker: BrokerView, body: Record<string, unknown>, actor: Actor): { id: number; closed: true } {
  const id = int(body, 'id', 0, Number.MAX_SAFE_INTEGER)
  if (id === undefined) throw new SkiffError('INVALID_REQUEST', 'id: the connection id is required')
  const reason = (optionalString(body, 'reason') ?? '').trim().slice(0, MAX_REASON) || 'no reason given'
  const conn = broker.connections.get(id)
  if (!conn) throw new SkiffError('INVALID_REQUEST', `no open connection has id ${id}`, { details: { id } })
  conn.fail(new SkiffError('CONNECTION_CLOSED', `closed by ${actor.user} from the panel: ${reason}`, { details: { closedBy: actor.user, reason } }))
  return { id, closed: true }
}
