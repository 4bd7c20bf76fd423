/**
 * LeaseKeeper: holds one etcd lease (TTL 3 s by default) and keeps it alive
 * every TTL/3 over the LeaseKeepAlive stream.
 *
 * The broker must never believe it holds the lease after etcd could have
 * expired it. etcd renews a lease to (the moment it handles the keepalive) +
 * TTL, and that moment is after we sent the request; so the keeper counts its
 * deadline from when the answered request was *sent*: deadline = send time +
 * TTL granted, on the monotonic clock (performance.now(), which NTP steps do
 * not move). `holds()` compares against it synchronously, and `lost` fires
 * when the deadline passes without a renewal, or as soon as etcd answers a
 * keepalive with TTL <= 0 (the lease is gone: revoked, or expired on etcd's
 * side first). A lost lease is never renewed again, even if a late answer
 * comes; `grant()` takes a new one, with a new id. Nothing may assume the id
 * stays the same: etcd 3.4.23 can revoke every lease when a stalled leader
 * resumes (etcd issue 15247).
 *
 * A keepalive not answered by the next tick moves the stream to the next
 * member, so one stalled member does not cost the lease.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type * as GrpcJs from '@grpc/grpc-js'
import type { EtcdClient } from './client.js'
import { toNumber, type LeaseId } from './codec.js'
import type { Endpoint } from './endpoint.js'

export interface LeaseKeeperOptions {
  /** Lease TTL in whole seconds (3). */
  ttlSeconds?: number
}

export interface LeaseLost {
  id: LeaseId
  /** 'deadline': no renewal answered in time; 'expired': etcd answered TTL <= 0. */
  reason: 'deadline' | 'expired'
  /** Send time (performance.now()) of the last keepalive (or grant) etcd answered. */
  lastRenewSentAt: number
  /** lastRenewSentAt + the TTL etcd answered, in ms. */
  deadline: number
  /** When the keeper noticed (performance.now()). */
  at: number
}

export declare interface LeaseKeeper {
  on(event: 'lost', listener: (info: LeaseLost) => void): this
  once(event: 'lost', listener: (info: LeaseLost) => void): this
}

export class LeaseKeeper extends EventEmitter {
  readonly ttlSeconds: number
  /**
   * The lease being kept; undefined before grant() and after loss or stop().
   * Whether to act on it is holds()'s answer, not this: `lost` is a timer and
   * can run late when the event loop is busy, holds() reads the clock.
   */
  id: LeaseId | undefined
  /** performance.now() time after which etcd may have expired the lease. */
  deadline = 0
  lastRenewSentAt = 0
  /** Keepalive period: a third of the TTL etcd granted. */
  private intervalMs = 1000
  private tick: NodeJS.Timeout | undefined
  private expiry: NodeJS.Timeout | undefined
  /** Fires half an interval after a keepalive is sent: still unanswered, its member is taken for stalled. */
  private answerCheck: NodeJS.Timeout | undefined
  private stream: { call: GrpcJs.ClientDuplexStream<unknown, unknown>; endpoint: Endpoint } | undefined
  /** Send times of the keepalives on the current stream not yet answered, oldest first. */
  private pending: number[] = []

  constructor(private readonly client: EtcdClient, opts: LeaseKeeperOptions = {}) {
    super()
    this.ttlSeconds = opts.ttlSeconds ?? 3
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1) throw new Error(`lease TTL must be a whole number of seconds >= 1, got ${this.ttlSeconds}`)
  }

  /** True while etcd cannot have expired the lease, with `marginMs` to spare. */
  holds(marginMs = 0): boolean {
    return this.id !== undefined && performance.now() + marginMs < this.deadline
  }

  /**
   * Grants a new lease and starts keeping it alive. Called again after `lost`,
   * it gives a new lease with a new id (the old one is abandoned).
   */
  async grant(): Promise<LeaseId> {
    this.drop()
    const sentAt = performance.now()
    const lease = await this.client.leaseGrant(this.ttlSeconds)
    const deadline = sentAt + lease.ttl * 1000
    if (performance.now() >= deadline) {
      this.revokeQuietly(lease.id)
      throw new Error(`etcd lease ${lease.id} was granted after its TTL had already run out`)
    }
    this.id = lease.id
    this.lastRenewSentAt = sentAt
    this.deadline = deadline
    this.armExpiry()
    // etcd may grant more than asked (it raises TTLs below its minimum): pace on what it granted.
    this.intervalMs = (lease.ttl * 1000) / 3
    this.tick = setInterval(() => this.keepAlive(), this.intervalMs)
    this.tick.unref()
    return lease.id
  }

  /** Stops keeping the lease alive and revokes it (its keys go at once). */
  async stop(): Promise<void> {
    const id = this.id
    this.drop()
    if (id !== undefined) await this.client.leaseRevoke(id).catch(() => {})
  }

  private keepAlive(): void {
    const id = this.id
    if (id === undefined) return
    const now = performance.now()
    if (this.stream && this.pending.length > 0 && now - this.pending[0]! >= this.intervalMs) {
      // Unanswered for a whole interval: this member is stalled or cut off.
      this.client.failedOver(this.stream.endpoint)
      this.closeStream()
    }
    try {
      if (!this.stream) this.openStream()
      this.pending.push(now)
      this.checkAnswered(now, this.intervalMs / 2)
      this.stream!.call.write({ ID: id })
    } catch {
      this.closeStream() // the client is closed, or the write failed: the deadline decides
    }
  }

  private openStream(): void {
    const stream = this.client.openStream('Lease', 'LeaseKeepAlive')
    this.stream = stream
    this.pending = []
    stream.call.on('data', (res: { ID: string; TTL: string }) => {
      if (this.stream !== stream || res.ID !== this.id) return
      const sentAt = this.pending.shift()
      if (sentAt === undefined) return
      if (toNumber(res.TTL, 'TTL') <= 0) return this.lose('expired')
      const deadline = sentAt + toNumber(res.TTL, 'TTL') * 1000
      if (deadline > this.deadline) {
        this.deadline = deadline
        this.lastRenewSentAt = sentAt
        this.armExpiry()
      }
    })
    const failed = (): void => {
      if (this.stream !== stream) return
      this.client.failedOver(stream.endpoint)
      this.closeStream()
    }
    stream.call.on('error', failed)
    stream.call.on('end', failed)
  }

  private closeStream(): void {
    const s = this.stream
    this.stream = undefined
    this.pending = []
    if (s) {
      s.call.removeAllListeners('data')
      s.call.on('error', () => {}) // a cancelled call still reports CANCELLED
      s.call.cancel()
    }
  }

  private armExpiry(): void {
    clearTimeout(this.expiry)
    const check = (): void => {
      const left = this.deadline - performance.now()
      if (left <= 0) return this.lose('deadline')
      this.expiry = setTimeout(check, Math.ceil(left))
      this.expiry.unref()
    }
    check()
  }

  private lose(reason: LeaseLost['reason']): void {
    const id = this.id
    if (id === undefined) return
    const info: LeaseLost = { id, reason, lastRenewSentAt: this.lastRenewSentAt, deadline: this.deadline, at: performance.now() }
    this.drop()
    // If etcd does still have it, its keys would outlive us by up to a TTL.
    this.revokeQuietly(id)
    this.emit('lost', info)
  }

  private revokeQuietly(id: LeaseId): void {
    this.client.leaseRevoke(id).catch(() => {})
  }

  /** Forgets the current lease: no more keepalives, no more expiry checks. */
  /**
   * A keepalive etcd answers takes milliseconds. One still unanswered after
   * `afterMs` means its member is stalled or cut off: the stream moves to the
   * next member and a keepalive goes out there at once, rather than at the
   * next tick, which would leave a third of the TTL for the new member to
   * answer in.
   */
  private checkAnswered(sentAt: number, afterMs: number): void {
    clearTimeout(this.answerCheck)
    this.answerCheck = setTimeout(() => {
      const stream = this.stream
      if (!stream || !this.pending.includes(sentAt)) return // answered, or the stream was replaced
      this.client.failedOver(stream.endpoint)
      this.closeStream()
      this.keepAlive()
    }, afterMs)
    this.answerCheck.unref()
  }

  private drop(): void {
    this.id = undefined
    this.deadline = 0
    clearInterval(this.tick)
    clearTimeout(this.answerCheck)
    clearTimeout(this.expiry)
    this.tick = undefined
    this.expiry = undefined
    this.closeStream()
  }
}
