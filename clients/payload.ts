/**
 * Payload conventions. On the wire a payload is bytes; these helpers turn
 * application values into bytes plus a `content-type` header, and back.
 *
 *   Buffer / Uint8Array  sent as is, no header added
 *   string               UTF-8, content-type: text/plain; charset=utf-8
 *   anything else        MessagePack, content-type: application/msgpack
 *
 * A content-type the caller put in the headers wins: publishing a JSON string
 * with `headers: { 'content-type': 'application/json' }` keeps that header so
 * consumers' `decode()` parses it. `undefined` is refused (MessagePack would
 * turn it into nil and `decode()` would give back null, not what was sent).
 *
 * The MessagePack settings match the protocol codec (plain maps, no record
 * extension) so consumers in any language can read payloads.
 */
import { Packr } from 'msgpackr'
import { SkiffError, unpackPayload, type Headers } from '../protocol/index.js'

/** The header that says how a payload is encoded. */
export const CONTENT_TYPE = 'content-type'
/** content-type of a string payload. */
export const TEXT_UTF8 = 'text/plain; charset=utf-8'
/** content-type of a value encoded as MessagePack. */
export const MSGPACK = 'application/msgpack'
/** content-type of JSON text (decode() parses it). */
export const JSON_TYPE = 'application/json'

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })

/** A payload as bytes, with the headers it goes out with. */
export interface EncodedPayload {
  bytes: Uint8Array
  headers: Headers | undefined
}

/** A value as payload bytes plus a content-type header (see the header comment); INVALID_REQUEST for undefined or an unencodable value. */
export function encodePayload(value: unknown, headers?: Headers): EncodedPayload {
  if (value instanceof Uint8Array) return { bytes: value, headers }
  if (value === undefined) throw new SkiffError('INVALID_REQUEST', 'payload is undefined; pass a Buffer, a string or a value MessagePack can encode')
  if (typeof value === 'string') return { bytes: Buffer.from(value, 'utf8'), headers: withContentType(headers, TEXT_UTF8) }
  let bytes: Buffer
  try {
    bytes = packr.pack(value)
  } catch (err) {
    throw new SkiffError('INVALID_REQUEST', `payload cannot be encoded as MessagePack: ${(err as Error).message}`, { cause: err })
  }
  return { bytes, headers: withContentType(headers, MSGPACK) }
}

function withContentType(headers: Headers | undefined, type: string): Headers {
  if (headers && headers[CONTENT_TYPE] !== undefined) return headers
  return { ...headers, [CONTENT_TYPE]: type }
}

/** The media type without parameters, lower-cased: "Text/Plain; charset=x" -> "text/plain". */
function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase()
}

/**
 * Decode by content-type: MessagePack -> value, JSON -> JSON.parse, text/* ->
 * string, anything else (or none) -> the bytes. Throws SkiffError
 * INVALID_REQUEST when the bytes do not match their declared type.
 */
export function decodePayload(payload: Buffer, headers: Headers): unknown {
  const type = mediaType(headers[CONTENT_TYPE])
  if (type === MSGPACK || type === 'application/x-msgpack') {
    if (payload.length === 0) throw new SkiffError('INVALID_REQUEST', 'empty payload declared as MessagePack')
    try {
      return unpackPayload(payload)
    } catch (err) {
      throw new SkiffError('INVALID_REQUEST', 'payload declared as MessagePack does not decode', { cause: err })
    }
  }
  if (type === JSON_TYPE || type.endsWith('+json')) {
    try {
      return JSON.parse(payload.toString('utf8'))
    } catch (err) {
      throw new SkiffError('INVALID_REQUEST', 'payload declared as JSON does not parse', { cause: err })
    }
  }
  if (type.startsWith('text/')) return payload.toString('utf8')
  return payload
}
