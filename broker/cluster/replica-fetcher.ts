/**
 * Follower side of replication towards one leader broker: one fetch at a
 * time over the peer link (one connection per pair of brokers), naming every
 * partition this broker follows there. Each answer goes to the workers that
 * own the partitions ('replAppend': truncate where the leader says the log
 * diverges, append the batches verbatim, fsync), and the next fetch carries
 * the new end offsets: the follower's acknowledgement (CLUSTER.md).
 *
 * A fetch names the epoch this broker believes each partition's leader is
 * in; the leader refuses any other, and the worker refuses an answer made in
 * an older epoch than the one it follows by the time it arrives.
 *
 * Decisions: the first fetch of a partition learns its position from the
 * worker (an empty append); a link that is down or an answer that is all
 * errors (the leader's view of etcd lags ours, or ours lags) is retried
 * after RETRY_MS, so a fetcher never spins.
 */
import { encodeReplFetch, type FetchPartition, type FetchedPartition } from '../../protocol/index.js'
import type { WorkerPool } from '../gateway/pool.js'
import { ownerOf } from '../routing.js'
import type { PeerLink } from './peer-link.js'
import type { ReplicationStats } from './replication-stats.js'

export const FETCH_MAX_WAIT_MS = 500
const RETRY_MS = 100
const EMPTY = new Uint8Array(0)

export interface Followed {
  topic: string
  partition: number
  epoch: number
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
  link: () => PeerLink | undefined
  pool: WorkerPool
  stats: ReplicationStats
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

  /** Replace the partitions followed at this leader (and their epochs). */
  set(list: Followed[]): void {
    // The replicator gives the list on every tick: the same list changes nothing and wakes nobody.
    const signature = list.map((f) => `${f.topic}/${f.partition}@${f.epoch}`).join(' ')
    if (signature === this.signature && this.running) return
    this.signature = signature
    const next = new Map<string, Followed>()
    for (const f of list) next.set(`${f.topic}/${f.partition}`, f)
    for (const [key, pos] of this.positions) {
      const f = next.get(key)
      // A new epoch starts from what the worker has (it may have truncated meanwhile).
      if (!f || f.epoch !== pos.epoch) this.positions.delete(key)
    }
    this.followed = next
    if (!this.running) void this.run()
    this.wake?.()
  }

  get size(): number {
    return this.followed.size
  }

  close(): void {
    this.closed = true
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
    const link = this.opts.link()
    if (!link) return false
    const sent = [...this.positions.values()].filter((p) => this.followed.get(key(p))?.epoch === p.epoch)
    if (sent.length === 0) return false
    const partitions: FetchPartition[] = sent.map((p) => ({ topic: p.topic, partition: p.partition, leaderEpoch: p.epoch, fetchOffset: p.fetchOffset, lastFetchedEpoch: p.lastEpoch >= 0 ? p.lastEpoch : undefined, logStart: p.logStart }))
    const answer = await link.call((corr) => encodeReplFetch({ corr, brokerId: this.opts.self, incarnation: this.opts.incarnation, maxWaitMs: FETCH_MAX_WAIT_MS, partitions }), FETCH_MAX_WAIT_MS + 5000)
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
    const worker = ownerOf(pos.topic, pos.partition, this.opts.pool.size)
    try {
      const res = await this.opts.pool.request(worker, { t: 'replAppend', topic: pos.topic, partition: pos.partition, epoch: pos.epoch, hw: r.hw, logStart: r.logStart ?? 0, batches: r.batches, diverging: r.divergingEpoch, groups: r.groups ?? EMPTY })
      pos.fetchOffset = res.endOffset
      pos.lastEpoch = res.lastEpoch
      pos.logStart = res.startOffset
      pos.hw = Math.max(pos.hw, r.hw)
      this.opts.stats.set({ topic: pos.topic, partition: pos.partition, role: 'follower', leaderEpoch: pos.epoch, hw: pos.hw, endOffset: res.endOffset, followers: [] })
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
