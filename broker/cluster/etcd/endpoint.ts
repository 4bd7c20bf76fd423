/**
 * One etcd member's client URL: a gRPC channel and the KV, Lease and Watch
 * service clients sharing it.
 *
 * Channel options, and why:
 * - Reconnect backoff capped at 1 s (grpc-js default grows to 120 s): a member
 *   that restarts is usable again within a second of coming back.
 * - HTTP/2 keepalive pings every 10 s while a call is open, dropped after 5 s
 *   unanswered: a SIGSTOPped member keeps its TCP connections open, and only a
 *   ping notices it. etcd refuses pings more often than every 5 s
 *   (--grpc-keepalive-min-time) and pings without an open stream, so neither
 *   is done.
 */
import type * as GrpcJs from '@grpc/grpc-js'
import { EtcdError, GRPC_UNAVAILABLE } from './errors.js'
import { etcdServices } from './proto.js'

export type ServiceName = 'KV' | 'Lease' | 'Watch'

const CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
}

/** 'http://127.0.0.1:2379' or '127.0.0.1:2379' → '127.0.0.1:2379'. TLS (https://) is not supported yet. */
export function parseEndpoint(url: string): string {
  const trimmed = url.trim()
  const m = /^(?:http:\/\/)?([^/\s]+?)\/?$/.exec(trimmed)
  if (!m || /^https:/.test(trimmed)) throw new Error(`etcd endpoint ${JSON.stringify(url)}: expected http://host:port`)
  const hostPort = m[1]!
  if (!/:\d+$/.test(hostPort)) throw new Error(`etcd endpoint ${JSON.stringify(url)}: no port`)
  return hostPort
}

export class Endpoint {
  readonly address: string
  private readonly channel: GrpcJs.Channel
  private readonly clients: Record<ServiceName, GrpcJs.Client>

  constructor(readonly url: string) {
    const { grpc, KV, Lease, Watch } = etcdServices()
    this.address = parseEndpoint(url)
    const creds = grpc.credentials.createInsecure()
    this.channel = new grpc.Channel(this.address, creds, CHANNEL_OPTIONS)
    const opts = { channelOverride: this.channel }
    this.clients = {
      KV: new KV(this.address, creds, opts),
      Lease: new Lease(this.address, creds, opts),
      Watch: new Watch(this.address, creds, opts),
    }
  }

  /** The generated service client, for calling a method by name. */
  service(name: ServiceName): Record<string, (...args: unknown[]) => unknown> {
    return this.clients[name] as unknown as Record<string, (...args: unknown[]) => unknown>
  }

  /**
   * Resolves once the channel is connected; rejects at once when the member
   * refuses connections and after `timeoutMs` when it does not answer. A write
   * is only sent after this, so a write that fails here was never sent and can
   * go to the next member.
   */
  ready(timeoutMs: number): Promise<void> {
    const { grpc } = etcdServices()
    const deadline = Date.now() + timeoutMs
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const state = this.channel.getConnectivityState(true)
        if (state === grpc.connectivityState.READY) return resolve()
        if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
          return reject(new EtcdError(`etcd at ${this.url}: not reachable`, { code: GRPC_UNAVAILABLE, endpoint: this.url }))
        }
        if (Date.now() >= deadline) {
          return reject(new EtcdError(`etcd at ${this.url}: no connection within ${timeoutMs} ms`, { code: GRPC_UNAVAILABLE, endpoint: this.url }))
        }
        this.channel.watchConnectivityState(state, deadline, check)
      }
      check()
    })
  }

  close(): void {
    for (const c of Object.values(this.clients)) c.close()
    this.channel.close()
  }
}
