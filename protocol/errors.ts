/**
 * Errors are data: one table of stable codes. The broker sends them in ERROR
 * frames; the client raises them as SkiffError. `fatal` errors are followed by
 * a close of the connection; `retriable` tells a client whether trying the same
 * request again (after a reconnect, or later) can succeed.
 *
 * Each error has two stable identities: its name (`'FORBIDDEN'`), which is what
 * JavaScript code compares (`err.code === 'FORBIDDEN'`, as with Node's own
 * `'ENOENT'` or undici's `'UND_ERR_...'`), and its number on the wire
 * (`wireCode`, the `code` field of an ERROR frame), which only the codecs need.
 */
export interface ErrorSpec {
  /** The number sent in ERROR frames; never reused or renumbered. */
  wireCode: number
  name: string
  retriable: boolean
  fatal: boolean
  message: string
}

function spec<N extends string>(wireCode: number, name: N, retriable: boolean, fatal: boolean, message: string): ErrorSpec & { name: N } {
  return { wireCode, name, retriable, fatal, message }
}

export const ERRORS = {
  BAD_FRAME: spec(1, 'BAD_FRAME', false, true, 'the frame could not be decoded'),
  FRAME_TOO_LARGE: spec(2, 'FRAME_TOO_LARGE', false, true, 'the frame is larger than the negotiated maximum'),
  UNSUPPORTED_VERSION: spec(3, 'UNSUPPORTED_VERSION', false, true, 'no protocol version in common'),
  UNAUTHORIZED: spec(4, 'UNAUTHORIZED', false, true, 'a valid HELLO is required first'),
  FORBIDDEN: spec(5, 'FORBIDDEN', false, false, 'not allowed for this user'),
  UNKNOWN_TOPIC: spec(6, 'UNKNOWN_TOPIC', false, false, 'no such topic'),
  INVALID_REQUEST: spec(7, 'INVALID_REQUEST', false, false, 'the request is not valid'),
  SLOW_CONSUMER: spec(8, 'SLOW_CONSUMER', true, true, 'the connection does not read its deliveries fast enough'),
  SHUTTING_DOWN: spec(9, 'SHUTTING_DOWN', true, false, 'the broker is shutting down'),
  INTERNAL: spec(10, 'INTERNAL', true, false, 'internal broker error'),
  TIMEOUT: spec(11, 'TIMEOUT', true, false, 'no answer in time'),
  CONNECTION_CLOSED: spec(12, 'CONNECTION_CLOSED', true, false, 'the connection closed before an answer came'),
  STORAGE_FULL: spec(13, 'STORAGE_FULL', true, false, 'the broker cannot write to its storage'),
  TOPIC_EXISTS: spec(14, 'TOPIC_EXISTS', false, false, 'the topic already exists'),
  UNKNOWN_GROUP: spec(15, 'UNKNOWN_GROUP', false, false, 'no such consumer group'),
  UNKNOWN_SUBSCRIPTION: spec(16, 'UNKNOWN_SUBSCRIPTION', false, false, 'no such subscription on this connection'),
  IDLE_TIMEOUT: spec(17, 'IDLE_TIMEOUT', true, true, 'no complete frame was received for longer than the idle timeout'),
  TOO_MANY_CONNECTIONS: spec(18, 'TOO_MANY_CONNECTIONS', true, true, 'the broker has reached its connection limit'),
  NO_RESPONDERS: spec(19, 'NO_RESPONDERS', true, false, 'nobody serves requests on this topic'),
  OVERLOADED: spec(20, 'OVERLOADED', true, false, 'the broker refused or cut this work to stay within a broker-wide budget; try again later'),
  GROUP_IN_USE: spec(21, 'GROUP_IN_USE', false, false, 'the consumer group has members subscribed; stop them or force the change'),
  // Cluster mode (CLUSTER.md). Retriable: the client refreshes METADATA and sends again.
  NOT_LEADER: spec(22, 'NOT_LEADER', true, false, 'this broker does not lead the partition; details name the leader'),
  PARTITION_UNAVAILABLE: spec(23, 'PARTITION_UNAVAILABLE', true, false, 'no live broker serves the partition now'),
  NOT_ENOUGH_REPLICAS: spec(24, 'NOT_ENOUGH_REPLICAS', true, false, 'fewer in-sync replicas than the topic needs to confirm a publish'),
} as const

export type ErrorName = keyof typeof ERRORS

const byWireCode = new Map<number, ErrorSpec>(Object.values(ERRORS).map((e) => [e.wireCode, e]))

/** The table entry for a number received in an ERROR frame. */
export function errorByCode(wireCode: number): ErrorSpec | undefined {
  return byWireCode.get(wireCode)
}

export interface SkiffErrorOptions {
  cause?: unknown
  /** Extra facts worth showing a user (topic, offset, ...). */
  details?: Record<string, unknown>
}

export class SkiffError extends Error {
  /** The error's stable name: `'FORBIDDEN'`, `'STORAGE_FULL'`, ... */
  readonly code: ErrorName
  /** The number that stands for `code` in ERROR frames (5 for FORBIDDEN, ...). */
  readonly wireCode: number
  /** @deprecated The same as `code`, kept for code written when `code` was the wire number. */
  readonly codeName: ErrorName
  readonly retriable: boolean
  readonly fatal: boolean
  readonly details?: Record<string, unknown>

  constructor(code: ErrorName, message?: string, options: SkiffErrorOptions = {}) {
    const e = ERRORS[code]
    super(message ?? e.message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SkiffError'
    this.code = code
    this.wireCode = e.wireCode
    this.codeName = code
    this.retriable = e.retriable
    this.fatal = e.fatal
    if (options.details) this.details = options.details
  }

  /** Rebuild an error received in an ERROR frame; unknown numbers become INTERNAL. */
  static fromWire(wireCode: number, message: string, details?: Record<string, unknown>): SkiffError {
    const e = errorByCode(wireCode)
    return new SkiffError((e?.name ?? 'INTERNAL') as ErrorName, message, details ? { details } : {})
  }
}

/**
 * True for a SkiffError (of `code`, when given). A program that loads both the
 * ESM and the CommonJS build of skiffmq has two SkiffError classes, so an error
 * of the other copy is recognised by its name and a code of the table too.
 */
export function isSkiffError(err: unknown, code?: ErrorName): err is SkiffError {
  if (!(err instanceof SkiffError)) {
    if (!(err instanceof Error) || err.name !== 'SkiffError') return false
    const other = (err as { code?: unknown }).code
    if (typeof other !== 'string' || !Object.hasOwn(ERRORS, other)) return false
  }
  return code === undefined || (err as SkiffError).code === code
}
