/**
 * A broker's registration: `brokers/<id>` holds its advertised address,
 * incarnation and data directory id, bound to a lease it keeps alive
 * (etcd/lease-keeper.ts). The key disappearing is how the others learn it is
 * gone; the lease's deadline, counted from when a keepalive was sent, is how
 * it learns it may be taken for gone (CLUSTER.md).
 *
 * Registering takes the key only when it is free, or when it holds an earlier
 * incarnation of this same data directory (a broker restarted faster than
 * its old lease expired: the same disk cannot be in two live processes). A
 * key held by another data directory is another broker with the same id:
 * the start fails, naming it. When the lease is lost (etcd unreachable past
 * the deadline, or etcd expired it), it registers again with a new lease,
 * retrying until it succeeds or the broker stops.
 */
import type { EtcdClient } from './etcd/client.js'
import { LeaseKeeper } from './etcd/lease-keeper.js'
import type { ClusterKeys } from './keys.js'
import { parseBroker, type BrokerRecord } from './records.js'

export interface MembershipOptions {
  client: EtcdClient
  keys: ClusterKeys
  brokerId: number
  /** What the broker key says, read at each registration (the broker's port is known once it listens). */
  record: () => BrokerRecord
  leaseTtlSeconds: number
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void
}

/** Another broker holds this broker's id: starting would make two brokers one. */
export class BrokerIdTaken extends Error {}

const RETRY_MS = 500

export class Membership {
  readonly lease: LeaseKeeper
  private stopped = false
  private retry: NodeJS.Timeout | undefined

  constructor(private readonly opts: MembershipOptions) {
    this.lease = new LeaseKeeper(opts.client, { ttlSeconds: opts.leaseTtlSeconds })
    this.lease.on('lost', (info) => {
      if (this.stopped) return
      opts.log('warn', 'cluster lease lost: registering again', { reason: info.reason, lease: info.id })
      this.reregister()
    })
  }

  /** Register once; throws BrokerIdTaken, or the etcd error when etcd cannot be reached. */
  async register(): Promise<void> {
    const { client, keys, brokerId } = this.opts
    const record = this.opts.record()
    const key = keys.broker(brokerId)
    const value = JSON.stringify(record)
    const lease = await this.lease.grant()
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await client.txn({
        compare: [{ key, target: 'createRevision', op: '==', value: 0 }],
        success: [{ type: 'put', key, value, lease }],
        failure: [{ type: 'range', key }],
      })
      if (res.succeeded) return
      const held = res.responses[0]?.type === 'range' ? res.responses[0].kvs[0] : undefined
      if (!held) continue // gone meanwhile: try again
      if (held.lease === lease) return // written by a retry whose answer was lost
      const holder = parseBroker(held.value)
      if (holder?.dirId !== record.dirId) {
        await this.lease.stop()
        throw new BrokerIdTaken(
          `broker id ${brokerId} is registered by another broker (${holder ? `${holder.host}:${holder.port}, data directory ${holder.dirId}` : 'an unreadable entry'}); give each broker its own --broker-id`,
        )
      }
      // An earlier incarnation of this data directory (or of this process, under a lease
      // since lost): take the key over, unless it changed meanwhile.
      const taken = await client.txn({
        compare: [{ key, target: 'modRevision', op: '==', value: held.modRevision }],
        success: [{ type: 'put', key, value, lease }],
      })
      if (taken.succeeded) return
    }
    throw new Error(`broker id ${brokerId}: its registration kept changing under five attempts to write it`)
  }

  private reregister(): void {
    clearTimeout(this.retry)
    this.retry = setTimeout(() => {
      if (this.stopped) return
      this.register().then(
        () => this.opts.log('info', 'cluster registration renewed', { lease: this.lease.id }),
        (err: unknown) => {
          if (this.stopped) return
          this.opts.log(err instanceof BrokerIdTaken ? 'error' : 'warn', 'cluster registration failed: retrying', { err: (err as Error).message })
          this.reregister()
        },
      )
    }, RETRY_MS)
    this.retry.unref()
  }

  /** Whether etcd cannot have expired our registration, with `marginMs` to spare. */
  holds(marginMs: number): boolean {
    return this.lease.holds(marginMs)
  }

  /** Leave: the key goes at once with the revoked lease, so the others learn it without waiting a TTL. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retry)
    await this.lease.stop()
  }
}
