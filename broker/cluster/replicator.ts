/**
 * Replication on this broker's gateway thread: from the etcd view it works
 * out the role of every replicated partition it holds a copy of
 * (replica-roles.ts), tells the owning worker ('role' op, only when
 * something changed), runs one fetcher per leader it follows
 * (replica-fetcher.ts), keeps the in-sync sets of the partitions it leads
 * (isr-keeper.ts) and stands in elections (elections.ts). Partitions with a
 * single copy are left exactly as part 1 serves them.
 */
import type { WorkerPool } from '../gateway/pool.js'
import { ownerOf } from '../routing.js'
import type { TopicConfig } from '../thread-messages.js'
import type { FetchAnswer } from '../worker/replication.js'
import type { ClusterView } from './cluster-view.js'
import type { EtcdClient } from './etcd/client.js'
import type { ClusterKeys } from './keys.js'
import { Elections } from './elections.js'
import { IsrKeeper } from './isr-keeper.js'
import type { PeerLink } from './peer-link.js'
import { ReplicaFetcher, type Followed } from './replica-fetcher.js'
import { leaderIsLive } from './replica-roles.js'
import { topicConfigOf, type IsrMember } from './records.js'
import type { ReplicationStats } from './replication-stats.js'

const TICK_MS = 250
export const REPLICA_LAG_MS = 10_000

type Log = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void

export interface ReplicatorOptions {
  self: IsrMember
  view: ClusterView
  keys: ClusterKeys
  client: EtcdClient
  stats: ReplicationStats
  holdsLease: () => boolean
  replicaLagMs?: number
  log: Log
}

interface SentRole {
  config: TopicConfig
  partition: number
  signature: string
}

export class Replicator {
  private pool: WorkerPool | undefined
  private links: ((id: number) => PeerLink | undefined) | undefined
  private readonly sent = new Map<string, SentRole>()
  private readonly fetchers = new Map<number, ReplicaFetcher>()
  private readonly isr: IsrKeeper
  private readonly elections: Elections
  private timer: NodeJS.Timeout | undefined
  private scheduled = false

  constructor(private readonly opts: ReplicatorOptions) {
    this.isr = new IsrKeeper({
      self: opts.self.id,
      view: opts.view,
      keys: opts.keys,
      client: opts.client,
      stats: opts.stats,
      replicaLagMs: opts.replicaLagMs ?? REPLICA_LAG_MS,
      caughtUp: (topic, partition, follower) => this.pool!.request(ownerOf(topic, partition, this.pool!.size), { t: 'isrCheck', topic, partition, follower }),
      recount: () => this.sync(),
      log: opts.log,
    })
    this.elections = new Elections({ self: opts.self, view: opts.view, keys: opts.keys, client: opts.client, stats: opts.stats, holdsLease: opts.holdsLease, log: opts.log })
  }

  /** Start acting on the view: the workers and the links to peers are there now. */
  start(pool: WorkerPool, links: (id: number) => PeerLink | undefined): void {
    this.pool = pool
    this.links = links
    this.sync()
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.timer.unref()
  }

  /** The view changed: work the roles out again once the current turn's events are all in. */
  changed(): void {
    if (!this.pool || this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      this.sync()
      this.elections.check(Date.now())
    })
  }

  /** A follower's fetch was answered (gateway/handlers/replication.ts). */
  fetched(follower: number, incarnation: string, answers: FetchAnswer[]): void {
    const now = Date.now()
    for (const a of answers) {
      if (a.error || a.divergingEpoch) continue
      const key = `${a.topic}/${a.partition}`
      this.isr.fetched(key, follower, { incarnation, acked: a.acked, leaderEnd: a.leaderEnd, lastCaughtUp: 0 }, a.caughtUp, now)
      const s = this.opts.stats.replicas.get(key)
      if (s?.role === 'leader') this.opts.stats.set({ ...s, hw: a.hw, endOffset: a.leaderEnd })
    }
  }

  private tick(): void {
    const now = Date.now()
    this.sync()
    this.elections.check(now)
    const { view, self } = this.opts
    for (const [topic, partition, rec] of view.allPartitions()) {
      if (rec.replicas.length < 2 || rec.leader !== self.id || !leaderIsLive(rec, view.brokers)) continue
      this.isr.check(topic, partition, rec, now)
    }
  }

  /** Send each replicated partition's role to its worker when it changed, and give each fetcher its partitions. */
  private sync(): void {
    const pool = this.pool
    if (!pool) return
    const { view, self } = this.opts
    const followed = new Map<number, Followed[]>()
    const seen = new Set<string>()
    for (const [topic, partition, rec] of view.allPartitions()) {
      const t = view.topics.get(topic)
      if (!t || rec.replicas.length < 2 || !rec.replicas.includes(self.id)) continue
      const key = `${topic}/${partition}`
      seen.add(key)
      const live = leaderIsLive(rec, view.brokers)
      const role = live && rec.leader === self.id ? 'leader' : 'follower'
      const counted = new Set(rec.isr.map((m) => m.id))
      for (const id of this.isr.counting(key) ?? []) counted.add(id)
      const isr = [...counted].sort((a, b) => a - b)
      const signature = `${role}|${rec.leaderEpoch}|${isr.join(',')}|${t.minInSync}`
      const config = topicConfigOf(topic, t)
      if (this.sent.get(key)?.signature !== signature) {
        this.sent.set(key, { config, partition, signature })
        pool.send(ownerOf(topic, partition, pool.size), { t: 'role', config, partition, self: self.id, role, epoch: rec.leaderEpoch, isr, minInSync: t.minInSync })
      }
      if (role === 'leader') continue
      this.isr.forget(key)
      if (!live) {
        this.opts.stats.set({ topic, partition, role: 'follower', leaderEpoch: rec.leaderEpoch, hw: this.opts.stats.replicas.get(key)?.hw ?? 0, endOffset: this.opts.stats.replicas.get(key)?.endOffset ?? 0, followers: [] })
        continue
      }
      let list = followed.get(rec.leader)
      if (!list) followed.set(rec.leader, (list = []))
      list.push({ topic, partition, epoch: rec.leaderEpoch })
    }
    for (const [key, s] of this.sent) {
      if (seen.has(key)) continue
      this.sent.delete(key)
      this.isr.forget(key)
      this.opts.stats.drop(s.config.topic, s.partition)
      pool.send(ownerOf(s.config.topic, s.partition, pool.size), { t: 'role', config: s.config, partition: s.partition, self: self.id, role: 'none', epoch: 0, isr: [], minInSync: 1 })
    }
    for (const [leader, fetcher] of this.fetchers) {
      if (followed.has(leader) && view.brokers.has(leader)) continue
      fetcher.close()
      this.fetchers.delete(leader)
    }
    for (const [leader, list] of followed) {
      let fetcher = this.fetchers.get(leader)
      if (!fetcher) {
        fetcher = new ReplicaFetcher({ leader, self: self.id, incarnation: self.incarnation, link: () => this.links?.(leader), pool, stats: this.opts.stats, log: this.opts.log })
        this.fetchers.set(leader, fetcher)
      }
      fetcher.set(list)
    }
  }

  stop(): void {
    clearInterval(this.timer)
    for (const f of this.fetchers.values()) f.close()
    this.fetchers.clear()
  }
}
