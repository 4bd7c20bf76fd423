/**
 * DELIVER frames for a subscription this client does not have: a
 * subscription the broker made after the client stopped waiting for it (a
 * SUBSCRIBE that timed out here while a stalled or still-joining broker went
 * on to make it), or one this client ended without its UNSUBSCRIBE reaching
 * the broker. The broker counts such a subscription as a member of its group:
 * what it sends there is held until the ack timeout (30 s by default), then
 * sent again, possibly to the same stray, while the group's real members
 * wait; in a cluster, where consumers subscribe and resubscribe as leaders
 * move, strays built up that way and held records for minutes.
 *
 * So the first DELIVER for an unknown subscription is answered with
 * UNSUBSCRIBE on that connection: the broker then hands what it held there to
 * the members that are left (at once, with its delivery counted, as for any
 * member that leaves). Once per subscription per connection, and at most
 * MAX_PER_CONNECTION per connection, so a broker that keeps sending costs
 * this client one request per subscription, not one per frame.
 */
import { encodeUnsubscribe } from '../protocol/index.js'
import type { Connection } from './connection.js'

/** Stray subscriptions released per connection at most (a broker misbehaving beyond that is not answered). */
export const MAX_PER_CONNECTION = 1024

export class StraySubscriptions {
  private readonly released = new WeakMap<Connection, Set<number>>()

  /** A DELIVER for `sub`, which no consumer here has, came on `conn`: UNSUBSCRIBE it there, once. */
  release(conn: Connection | undefined, sub: number): void {
    if (!conn) return
    let subs = this.released.get(conn)
    if (!subs) this.released.set(conn, (subs = new Set()))
    if (subs.has(sub) || subs.size >= MAX_PER_CONNECTION) return
    subs.add(sub)
    const corr = conn.nextCorr()
    // The answer does not matter: OK, or UNKNOWN_SUBSCRIPTION when it ended meanwhile.
    conn.request(corr, encodeUnsubscribe({ corr, sub }), `UNSUBSCRIBE stray subscription ${sub}`).catch(() => {})
  }
}
