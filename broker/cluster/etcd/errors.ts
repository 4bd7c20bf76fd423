/**
 * What an etcd call can fail with. `EtcdError.code` is the gRPC status code
 * (14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 5 NOT_FOUND, ...); `ambiguous` says the
 * request may or may not have been applied: a write that reached a member and
 * then lost its answer. A caller that did a compare-and-swap re-reads the key
 * to learn the outcome rather than trusting either branch.
 */

export const GRPC_UNAVAILABLE = 14
export const GRPC_DEADLINE_EXCEEDED = 4

export class EtcdError extends Error {
  override name = 'EtcdError'
  readonly code: number
  readonly endpoint: string | undefined
  readonly ambiguous: boolean

  constructor(message: string, opts: { code: number; endpoint?: string; ambiguous?: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause })
    this.code = opts.code
    this.endpoint = opts.endpoint
    this.ambiguous = opts.ambiguous ?? false
  }
}

/** A gRPC failure that another member might not have: the member is down, stalled, or has no leader. */
export function isFailover(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED
}

export function wrapGrpcError(err: unknown, endpoint: string, method: string, ambiguous = false): EtcdError {
  const e = err as { code?: number; details?: string; message?: string }
  const code = typeof e?.code === 'number' ? e.code : GRPC_UNAVAILABLE
  const detail = e?.details || e?.message || String(err)
  const what = ambiguous ? ' (the write may or may not have been applied)' : ''
  return new EtcdError(`etcd ${method} at ${endpoint}: ${detail}${what}`, { code, endpoint, ambiguous, cause: err })
}
