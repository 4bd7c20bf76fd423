/**
 * Follower side of replication towards one leader broker, run by the worker
 * that owns the partitions: one fetch at a time over its own link to the
 * leader, naming every partition of this worker's that this broker follows
 * there. Each answer is appended here ('append': truncate where the leader
 * says the log diverges, append the batches verbatim, fsync), and the next
 * fetch carries the new end offsets: the follower's acknowledgement
 * (CLUSTER.md).
 *
 * Why the worker and not the gateway: a fetch made by the gateway crossed
 * two more thread hops per round (the answer to the worker, its end offsets
 * back) and the gateway's event loop read and copied every replicated byte
 * once more on its way to the worker. Made here, the leader's REPL_DATA is
 * read by the thread that writes it to the log (bench/README.md, Round 15).
 *
 * A fetch names the epoch this broker believes each partition's leader is
 * in; the leader refuses any other, and the append refuses an answer made
 * in an older epoch than the one the partition follows by the time it
 * arrives.
 *
 * Decisions: the first fetch of a partition learns its position from its
 * log (an empty append); a link that is down or an answer that is all
 * errors (the leader's view of etcd lags ours, or ours lags) is retried
 * after RETRY_MS, so a fetcher never spins.
 */
import { encodeReplFetch, type FetchPartition, type FetchedPartition } from '../../protocol/index.js'
import type { PeerLink } from '../cluster/peer-link.js'
import type { Results } from '../thread-messages.js'

export const FETCH_MAX_WAIT_MS = 500
const RETRY_MS = 100
const EMPTY = new Uint8Array(0)

export interface Followed {
  topic: string
  partition: number
  epoch: number
}

/** Where a followed partition stands here, for the gateway's replication stats. */
export interface FollowerPosition {
  topic: string
  partition: number
  leaderEpoch: number
  hw: number
  endOffset: number
}

interface Position extends Followed {
  fetchOffset: number
  lastEpoch: number
  hw: number
  /** This copy's first offset: the leader answers a purge once its followers' have moved up. */
  logStart: number
}

export interface FetcherOptions {
  leader: number
  self: number
  incarnation: string
  link: PeerLink
  /** Append one partition's answer here; resolves with the new end once a sync covers it. */
  append: (topic: string, partition: number, epoch: number, r: FetchedPartition) => Promise<Results['replAppend']>
  report: (position: FollowerPosition) => void
  log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

export class ReplicaFetcher {
  private followed = new Map<string, Followed>()
  private signature = ''
  private readonly positions = new Map<string, Position>()
  private closed = false
  private running = false
  private wake: (() => void) | undefined
  private lastWarned = 0

  constructor(private readonly opts: FetcherOptions) {}

  get link(): PeerLink {
    return this.opts.link
  }

  /** Replace the partitions followed at this leader (and their epochs). */
  set(list: Followed[]): void {
    const signature = list.map((f) => `${f.topic}/${f.partition}@${f.epoch}`).join(' ')
    if (signature === this.signature && this.running) return
    this.signature = signature
    const next = new Map<string, Followed>()
    for (const f of list) next.set(`${f.topic}/${f.partition}`, f)
    for (const [key, pos] of this.positions) {
      const f = next.get(key)
      // A new epoch starts from what the log has (it may have truncated meanwhile).
      if (!f || f.epoch !== pos.epoch) this.positions.delete(key)
    }
    this.followed = next
    if (!this.running) void this.run()
    this.wake?.()
  }

  close(): void {
    this.closed = true
    this.opts.link.close()
    this.wake?.()
  }

  private async run(): Promise<void> {
    this.running = true
    try {
      while (!this.closed && this.followed.size > 0) {
        if (!(await this.round())) await this.pause(RETRY_MS)
      }
    } catch (err) {
      this.opts.log('warn', 'replica fetcher failed: restarting', { leader: this.opts.leader, err: (err as Error).message })
      await this.pause(RETRY_MS)
    } finally {
      this.running = false
    }
    if (!this.closed && this.followed.size > 0) void this.run()
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        resolve()
      }
      this.wake = done
    })
  }

  /** One fetch and its appends; false when nothing came of it (retry after a pause). */
  private async round(): Promise<boolean> {
    await Promise.all([...this.followed.values()].filter((f) => !this.positions.has(key(f))).map((f) => this.learn(f)))
    const sent = [...this.positions.values()].filter((p) => this.followed.get(key(p))?.epoch === p.epoch)
    if (sent.length === 0) return false
    const partitions: FetchPartition[] = sent.map((p) => ({ topic: p.topic, partition: p.partition, leaderEpoch: p.epoch, fetchOffset: p.fetchOffset, lastFetchedEpoch: p.lastEpoch >= 0 ? p.lastEpoch : undefined, logStart: p.logStart }))
    const answer = await this.opts.link.call((corr) => encodeReplFetch({ corr, brokerId: this.opts.self, incarnation: this.opts.incarnation, maxWaitMs: FETCH_MAX_WAIT_MS, partitions }), FETCH_MAX_WAIT_MS + 5000)
    if (answer.kind !== 'data') {
      this.warn('replication fetch failed', { kind: answer.kind, err: 'error' in answer ? answer.error.message : 'reason' in answer ? answer.reason : undefined })
      return false
    }
    const epochs = new Map(sent.map((p) => [key(p), p.epoch]))
    let useful = false
    await Promise.all(
      answer.data.partitions.map(async (r) => {
        const epoch = epochs.get(key(r))
        if (epoch === undefined || r.error) return
        useful = true
        const pos = this.positions.get(key(r))
        if (!pos || pos.epoch !== epoch) return
        if (r.batches.length === 0 && !r.divergingEpoch && !r.groups && !r.logStart && r.hw <= pos.hw) return
        await this.append(pos, r)
      }),
    )
    if (!useful) this.warn('replication fetch refused by the leader', { errors: [...new Set(answer.data.partitions.map((r) => r.error))].join(',') })
    return useful
  }

  private async learn(f: Followed): Promise<void> {
    const pos: Position = { ...f, fetchOffset: 0, lastEpoch: -1, hw: 0, logStart: 0 }
    await this.append(pos, { topic: f.topic, partition: f.partition, hw: 0, leaderEnd: 0, batches: EMPTY })
    if (this.followed.get(key(f))?.epoch === f.epoch) this.positions.set(key(f), pos)
  }

  private async append(pos: Position, r: FetchedPartition): Promise<void> {
    try {
      const res = await this.opts.append(pos.topic, pos.partition, pos.epoch, r)
      pos.fetchOffset = res.endOffset
      pos.lastEpoch = res.lastEpoch
      pos.logStart = res.startOffset
      pos.hw = Math.max(pos.hw, r.hw)
      this.opts.report({ topic: pos.topic, partition: pos.partition, leaderEpoch: pos.epoch, hw: pos.hw, endOffset: res.endOffset })
    } catch (err) {
      this.warn('replicated data not appended', { topic: pos.topic, partition: pos.partition, err: (err as Error).message })
      this.positions.delete(key(pos))
    }
  }

  private warn(msg: string, fields: Record<string, unknown>): void {
    const now = Date.now()
    if (now - this.lastWarned < 5000) return
    this.lastWarned = now
    this.opts.log('warn', msg, { leader: this.opts.leader, ...fields })
  }
}

function key(p: { topic: string; partition: number }): string {
  return `${p.topic}/${p.partition}`
}
