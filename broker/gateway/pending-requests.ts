/**
 * Requests waiting for replies, with the two limits that keep one user from
 * blocking request/reply for everyone:
 *
 * - per requesting connection at most `maxRequestsPerConnection`; past it
 *   the new request is INVALID_REQUEST (details.limit names the setting);
 * - broker-wide at most `maxPendingRequests`. When the table is full a new
 *   request is still admitted: the OLDEST request of the connection holding
 *   the most is dropped for it, and that request's requester gets OVERLOADED
 *   (retriable) with its corr. So a hoarder pays for its own hoard, and a
 *   light user's request always gets in. Finding the largest holder scans
 *   the holders, and only when the table is full.
 *
 * Each request is indexed by id, by requester and by server (Maps keep
 * insertion order, so a connection's first entry is its oldest), so a reply,
 * a timeout and a disconnect each touch only their own requests. A limit
 * never answers INTERNAL. `0` turns a limit off.
 */
import { SkiffError } from '../../protocol/index.js'
import type { HandlerConnection } from './handler-connection.js'

export interface PendingRequest {
  readonly id: number
  readonly requester: HandlerConnection
  /** The requester's corr, for the answer. */
  readonly corr: number
  readonly server: HandlerConnection
  readonly timer: NodeJS.Timeout
}

export interface RequestLimits {
  maxRequestsPerConnection: number
  maxPendingRequests: number
}

type ByConnection = Map<HandlerConnection, Map<number, PendingRequest>>

export class PendingRequests {
  private readonly byId = new Map<number, PendingRequest>()
  private readonly byRequester: ByConnection = new Map()
  private readonly byServer: ByConnection = new Map()
  private nextId = 1

  get size(): number {
    return this.byId.size
  }

  /** Requests `requester` has waiting now. */
  heldBy(requester: HandlerConnection): number {
    return this.byRequester.get(requester)?.size ?? 0
  }

  /**
   * Admit a request from `requester` to `server`, forgotten after `timeoutMs`.
   * Throws INVALID_REQUEST past the requester's share; makes room by eviction
   * when the broker-wide table is full.
   */
  add(requester: HandlerConnection, corr: number, server: HandlerConnection, timeoutMs: number, limits: RequestLimits): PendingRequest {
    const perConnection = limits.maxRequestsPerConnection
    if (perConnection > 0 && this.heldBy(requester) >= perConnection) {
      throw new SkiffError('INVALID_REQUEST', `a connection may have at most ${perConnection} requests waiting for replies (maxRequestsPerConnection)`, {
        details: { limit: 'maxRequestsPerConnection', value: perConnection },
      })
    }
    const brokerWide = limits.maxPendingRequests
    while (brokerWide > 0 && this.byId.size >= brokerWide) this.evictOldestOfLargest(brokerWide)
    const id = this.nextId++
    const timer = setTimeout(() => this.remove(id), timeoutMs)
    timer.unref()
    const p: PendingRequest = { id, requester, corr, server, timer }
    this.byId.set(id, p)
    link(this.byRequester, requester, p)
    link(this.byServer, server, p)
    return p
  }

  /** The request `id` if `server` was asked it; it is no longer pending. */
  take(id: number, server: HandlerConnection): PendingRequest | undefined {
    const p = this.byId.get(id)
    if (!p || p.server !== server) return undefined
    this.remove(id)
    return p
  }

  /**
   * Forget every request `conn` made or was asked to serve. Returns the ones
   * it was serving (their requesters are still waiting and must be told).
   */
  connectionGone(conn: HandlerConnection): PendingRequest[] {
    for (const id of [...(this.byRequester.get(conn)?.keys() ?? [])]) this.remove(id)
    const served = [...(this.byServer.get(conn)?.values() ?? [])]
    for (const p of served) this.remove(p.id)
    return served
  }

  private remove(id: number): void {
    const p = this.byId.get(id)
    if (!p) return
    clearTimeout(p.timer)
    this.byId.delete(id)
    unlink(this.byRequester, p.requester, id)
    unlink(this.byServer, p.server, id)
  }

  /** The table is full: drop the oldest request of the connection holding the most, telling its requester. */
  private evictOldestOfLargest(limit: number): void {
    let largest: Map<number, PendingRequest> | undefined
    for (const held of this.byRequester.values()) if (!largest || held.size > largest.size) largest = held
    const oldest = largest!.values().next().value!
    this.remove(oldest.id)
    oldest.requester.error(
      new SkiffError('OVERLOADED', `the broker holds ${limit} requests waiting for replies (maxPendingRequests); this connection held the most, and its oldest request was dropped to admit another`, {
        details: { limit: 'maxPendingRequests', value: limit },
      }),
      oldest.corr,
    )
  }
}

function link(index: ByConnection, conn: HandlerConnection, p: PendingRequest): void {
  let held = index.get(conn)
  if (!held) index.set(conn, (held = new Map()))
  held.set(p.id, p)
}

function unlink(index: ByConnection, conn: HandlerConnection, id: number): void {
  const held = index.get(conn)
  if (!held) return
  held.delete(id)
  if (held.size === 0) index.delete(conn)
}
