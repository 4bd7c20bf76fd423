/**
 * EtcdClient: the thin etcd v3 client a broker in cluster mode coordinates
 * through (KV reads and transactions, leases; lease-keeper.ts keeps a lease
 * alive, watcher.ts follows a prefix).
 *
 * Why our own client and not the `etcd3` npm package: it has had no release
 * since 2023 and was tested against etcd 3.1-3.3; its lease reports loss only
 * after twice the TTL, when another broker may already have taken over; and
 * its watches do not set `hasleader`, so a member cut off from its cluster
 * keeps serving a watch that silently stops. What we need is small: a subset
 * of rpc.proto written out (rpc.proto, kv.proto here) over @grpc/grpc-js.
 *
 * Endpoints and failover: calls go to one member at a time; on UNAVAILABLE or
 * a missed deadline the client moves on to the next member. Reads (Range) are
 * retried there, once per member. Writes (Txn, DeleteRange, Compact, lease
 * grant and revoke) are retried on the next member only when they were never
 * sent (the connection could not be made); once sent, a lost answer is thrown
 * as an EtcdError with `ambiguous: true`, as etcd's Go client does: resending
 * a compare-and-swap that did apply would report a false failure.
 *
 * Every call has a deadline (`callTimeoutMs`, 2 s by default, per member tried).
 * Reads are linearizable (etcd's default): they need a leader and see every
 * write acknowledged before them.
 */
import type * as GrpcJs from '@grpc/grpc-js'
import { fromRawRange, prefixEnd, toBuffer, toNumber, type Bytes, type LeaseId, type RangeResult, type RawHeader, type RawRangeResponse } from './codec.js'
import { Endpoint, type ServiceName } from './endpoint.js'
import { EtcdError, GRPC_UNAVAILABLE, isFailover, wrapGrpcError } from './errors.js'
import { etcdServices } from './proto.js'
import { fromRawTxn, rawTxn, type RawTxnResponse, type TxnRequest, type TxnResult } from './txn.js'

export interface EtcdClientOptions {
  /** Member client URLs: an array, or one comma-separated string ('http://h1:2379,http://h2:2379'). */
  endpoints: string | string[]
  /** Deadline of one call on one member. */
  callTimeoutMs?: number
  /** How long a write waits for a connection to a member before trying the next. */
  connectTimeoutMs?: number
}

export interface LeaseGrant {
  id: LeaseId
  /** The TTL etcd granted, in seconds. */
  ttl: number
}

export class EtcdClient {
  readonly endpoints: readonly Endpoint[]
  readonly callTimeoutMs: number
  readonly connectTimeoutMs: number
  private current = 0
  private closed = false

  constructor(opts: EtcdClientOptions) {
    const urls = (Array.isArray(opts.endpoints) ? opts.endpoints : opts.endpoints.split(',')).map((u) => u.trim()).filter(Boolean)
    if (urls.length === 0) throw new Error('etcd: no endpoints given')
    this.endpoints = urls.map((u) => new Endpoint(u))
    this.callTimeoutMs = opts.callTimeoutMs ?? 2000
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 1000
  }

  /** The member calls go to now. */
  endpoint(): Endpoint {
    if (this.closed) throw new EtcdError('etcd client is closed', { code: GRPC_UNAVAILABLE })
    return this.endpoints[this.current]!
  }

  /** Moves on from `failed` to the next member (unless someone already did). */
  failedOver(failed: Endpoint): void {
    if (this.endpoints[this.current] === failed) this.current = (this.current + 1) % this.endpoints.length
  }

  async get(key: Bytes): Promise<RangeResult> {
    return this.range({ key: toBuffer(key) })
  }

  /** Every key starting with `prefix`, in key order, read at one revision (or at `revision`, when given). */
  async getPrefix(prefix: Bytes, opts: { revision?: number } = {}): Promise<RangeResult> {
    if (toBuffer(prefix).length === 0) throw new Error('etcd getPrefix: empty prefix')
    return this.range({ key: toBuffer(prefix), range_end: prefixEnd(prefix), revision: String(opts.revision ?? 0) })
  }

  private async range(req: Record<string, unknown>): Promise<RangeResult> {
    const raw = await this.unary<RawRangeResponse>('KV', 'Range', { ...req, sort_order: 'ASCEND', sort_target: 'KEY' }, true)
    if (raw.more) throw new Error('etcd range: answer truncated') // no limit is ever set, so etcd never truncates
    return fromRawRange(raw)
  }

  async txn(req: TxnRequest): Promise<TxnResult> {
    return fromRawTxn(await this.unary<RawTxnResponse>('KV', 'Txn', rawTxn(req), false))
  }

  async put(key: Bytes, value: Bytes, opts: { lease?: LeaseId } = {}): Promise<{ revision: number }> {
    const r = await this.txn({ success: [{ type: 'put', key, value, lease: opts.lease }] })
    return { revision: r.revision }
  }

  async delete(key: Bytes): Promise<{ deleted: number; revision: number }> {
    return this.deleteRange({ key: toBuffer(key) })
  }

  async deletePrefix(prefix: Bytes): Promise<{ deleted: number; revision: number }> {
    if (toBuffer(prefix).length === 0) throw new Error('etcd deletePrefix: empty prefix')
    return this.deleteRange({ key: toBuffer(prefix), range_end: prefixEnd(prefix) })
  }

  private async deleteRange(req: Record<string, unknown>): Promise<{ deleted: number; revision: number }> {
    const raw = await this.unary<{ header: RawHeader; deleted: string }>('KV', 'DeleteRange', req, false)
    return { deleted: toNumber(raw.deleted, 'deleted'), revision: toNumber(raw.header.revision, 'revision') }
  }

  /** Drops history below `revision`: watches from before it get compact_revision. */
  async compact(revision: number, opts: { physical?: boolean } = {}): Promise<void> {
    await this.unary('KV', 'Compact', { revision: String(revision), physical: opts.physical ?? false }, false)
  }

  async leaseGrant(ttlSeconds: number): Promise<LeaseGrant> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error(`etcd leaseGrant: TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`)
    const raw = await this.unary<{ ID: string; TTL: string; error: string }>('Lease', 'LeaseGrant', { TTL: String(ttlSeconds), ID: '0' }, false)
    if (raw.error) throw new EtcdError(`etcd leaseGrant: ${raw.error}`, { code: 2 })
    return { id: raw.ID, ttl: toNumber(raw.TTL, 'TTL') }
  }

  /** Ends the lease now: every key bound to it is deleted. A lease that is already gone is not an error. */
  async leaseRevoke(id: LeaseId): Promise<void> {
    try {
      await this.unary('Lease', 'LeaseRevoke', { ID: id }, false)
    } catch (err) {
      if ((err as EtcdError).code === 5) return // NOT_FOUND: "requested lease not found"
      throw err
    }
  }

  /**
   * One unary call with failover. `idempotent` calls are resent to the next
   * member on UNAVAILABLE/deadline; others only when they could not be sent.
   */
  async unary<T>(service: ServiceName, method: string, req: unknown, idempotent: boolean): Promise<T> {
    let last: unknown
    for (let attempt = 0; attempt < this.endpoints.length; attempt++) {
      const ep = this.endpoint()
      if (!idempotent) {
        try {
          await ep.ready(Math.min(this.connectTimeoutMs, this.callTimeoutMs))
        } catch (err) {
          this.failedOver(ep)
          last = err
          continue
        }
      }
      try {
        return await this.callOnce<T>(ep, service, method, req)
      } catch (err) {
        if (!isFailover(err)) throw wrapGrpcError(err, ep.url, method)
        this.failedOver(ep)
        if (!idempotent) throw wrapGrpcError(err, ep.url, method, true)
        last = err
      }
    }
    if (last instanceof EtcdError) throw new EtcdError(`etcd ${method}: no member answered (last: ${last.message})`, { code: last.code, cause: last })
    throw wrapGrpcError(last, this.endpoints.map((e) => e.url).join(','), method)
  }

  private callOnce<T>(ep: Endpoint, service: ServiceName, method: string, req: unknown): Promise<T> {
    const fn = ep.service(service)[method]
    if (!fn) throw new Error(`etcd: no method ${service}.${method}`)
    const deadline = new Date(Date.now() + this.callTimeoutMs)
    return new Promise<T>((resolve, reject) => {
      fn.call(ep.service(service), req, { deadline } satisfies Partial<GrpcJs.CallOptions>, (err: unknown, res: T) => (err ? reject(err) : resolve(res)))
    })
  }

  /**
   * Opens a bidirectional stream (Watch.Watch, Lease.LeaseKeepAlive) on the
   * current member, with the `hasleader` metadata: a member that has lost its
   * leader ends the stream with "no leader" instead of keeping it open and
   * silent, so the caller moves to another member. The caller calls
   * failedOver(endpoint) when the stream fails.
   */
  openStream(service: 'Watch' | 'Lease', method: string): { call: GrpcJs.ClientDuplexStream<unknown, unknown>; endpoint: Endpoint } {
    const { grpc } = etcdServices()
    const endpoint = this.endpoint()
    const metadata = new grpc.Metadata()
    metadata.set('hasleader', 'true')
    const fn = endpoint.service(service)[method]
    if (!fn) throw new Error(`etcd: no method ${service}.${method}`)
    const call = fn.call(endpoint.service(service), metadata) as GrpcJs.ClientDuplexStream<unknown, unknown>
    return { call, endpoint }
  }

  /** Closes every channel; open streams end with CANCELLED. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const ep of this.endpoints) ep.close()
  }
}
