/**
 * Where a cluster producer's batches go (the outbox's `route` and `held`
 * hooks, outbox.ts): each batch to the connection of its partition's leader
 * as the last metadata names it, and, when a batch has no open route or is
 * refused or cut off in a way that means "send it again elsewhere", what
 * happens until it is sent again.
 *
 * Decisions written down here:
 * - A batch is routed when it is written: to the leader of its partition if
 *   that broker's link is connected now. A link that is not made yet is
 *   started; the batch waits (held) rather than queueing on a link that may
 *   be reconnecting to a dead broker.
 * - Held batches are tried again as soon as something may have changed: new
 *   metadata, or a link (re)connected; and otherwise after a backoff that
 *   starts at 25 ms and doubles to at most 500 ms, each preceded by a
 *   metadata refresh (shared with every other refresh of the client). So a
 *   leader's death costs the election (the lease TTL, about 3 s) plus at
 *   most about half a second, not a reconnect timeout.
 * - A leader that stops answering without its connection closing (paused,
 *   or cut off from etcd and fenced) is noticed by its silence: while a
 *   batch has awaited its answer for more than SLOW_MS, metadata is
 *   refreshed every second; when it names another leader, the batches in
 *   flight to the old one are taken back and sent to the new one (outbox.ts
 *   retry()), with the same producer id and sequence.
 * - Nothing here decides when to give up: every publish keeps its own
 *   deadline (requestTimeoutMs from the call) and times out with the last
 *   reason its batch was held.
 */
import type { SkiffError } from '../protocol/index.js'
import type { ClusterRouter } from './cluster-router.js'
import type { Connection } from './connection.js'
import type { Batch } from './outbox.js'

const FIRST_BACKOFF_MS = 25
const MAX_BACKOFF_MS = 500
/** A hold this long after the previous one starts the backoff over. */
const QUIET_MS = 5000
/** A batch unanswered this long makes the producer look at metadata again (every WATCH_MS). */
const SLOW_MS = 2000
const WATCH_MS = 1000

export class PartitionRoutes {
  /** Why the last batch was held (a publish that times out names it). */
  lastReason: SkiffError | undefined
  private backoff = FIRST_BACKOFF_MS
  private lastHeld = 0
  private timer: NodeJS.Timeout | undefined
  private readonly watch: NodeJS.Timeout
  private closed = false
  /** Sends the held batches again (the producer's, set once it exists). */
  retry: () => void = () => undefined
  /** How long the producer's oldest batch in flight has waited for its answer (set with retry). */
  oldestInFlightMs: (now: number) => number = () => 0

  constructor(private readonly router: ClusterRouter) {
    this.watch = setInterval(() => {
      if (this.oldestInFlightMs(Date.now()) > SLOW_MS) this.router.refreshSoon()
    }, WATCH_MS)
    this.watch.unref()
  }

  /** The open connection to `batch`'s partition's leader, or undefined (the batch is held). */
  readonly route = (batch: Batch): Connection | undefined => {
    const id = this.router.brokerFor(batch.topic, batch.partition)
    if (id === undefined) return undefined
    const conn = this.router.linkNow(id)?.current
    return conn?.isOpen ? conn : undefined
  }

  /** A batch was held: try again after a refresh and a backoff (or sooner, on news). */
  readonly held = (reason: SkiffError | undefined): void => {
    if (reason) this.lastReason = reason
    const now = Date.now()
    if (now - this.lastHeld > QUIET_MS) this.backoff = FIRST_BACKOFF_MS
    this.lastHeld = now
    if (this.timer || this.closed) return
    const wait = this.backoff
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS)
    this.timer = setTimeout(() => {
      // Retried once the refresh is in, whatever it brought (a link may have come back meanwhile).
      void this.router
        .refresh()
        .catch(() => undefined)
        .then(() => {
          this.timer = undefined
          this.retry()
        })
    }, wait)
    this.timer.unref()
  }

  /** A batch was refused for a partition its topic no longer has: metadata now (shared with a refresh in flight). */
  readonly stale = (): void => {
    if (!this.closed) void this.router.refresh(true).catch(() => undefined)
  }

  /** The last reason a batch was held, if it was held at `since` or later. */
  reasonSince(since: number): SkiffError | undefined {
    return this.lastHeld >= since ? this.lastReason : undefined
  }

  /** Metadata changed or a link connected: try the held batches now. */
  changed(): void {
    if (!this.closed) this.retry()
  }

  close(): void {
    this.closed = true
    clearInterval(this.watch)
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }
}
