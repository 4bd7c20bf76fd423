/**
 * Replication on this broker's gateway thread: from the etcd view it works
 * out the role of every replicated partition it holds a copy of
 * (replica-roles.ts), tells the owning worker ('role' op, only when
 * something changed), tells each worker which leaders to fetch its
 * followed partitions from ('follow' op: the worker fetches over links of
 * its own, worker/leader-fetchers.ts), keeps the in-sync sets of the partitions it leads
 * (isr-keeper.ts), finishes the moves of the partitions it leads
 * (partition-moves.ts), drops its copy of a partition moved off it, and
 * stands in elections (elections.ts). Partitions with a single copy are left
 * exactly as part 1 serves them.
 */
import type { WorkerPool } from '../gateway/pool.js'
import { ownerOf } from '../routing.js'
import type { TopicConfig } from '../thread-messages.js'
import type { FetchAnswer } from '../worker/replication.js'
import type { ClusterView } from './cluster-view.js'
import type { EtcdClient } from './etcd/client.js'
import type { ClusterKeys } from './keys.js'
import { Elections } from './elections.js'
import { PartitionMoves } from './partition-moves.js'
import type { PartitionMove } from '../../protocol/index.js'
import { IsrKeeper } from './isr-keeper.js'
import type { PeerLink } from './peer-link.js'
import type { Followed, FollowerPosition } from '../worker/replica-fetcher.js'
import type { FollowedLeader } from '../worker/leader-fetchers.js'
import { isCurrent, leaderIsLive } from './replica-roles.js'
import { casPartition } from './partition-cas.js'
import { topicConfigOf, type IsrMember, type PartitionRecord, type TopicRecord } from './records.js'
import { deadLetterTopicOf, originTopicOf } from '../../protocol/names.js'
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
  /** Whether this broker's copy of `topic` is the cluster's topic made at `createdAt` (written here, not an older one of that name). */
  localCopyCurrent?: (topic: string, createdAt: number) => boolean
  /** Whether this broker's data dir has a copy of the partition (cluster-topics.ts). */
  holdsCopy?: (topic: string, partition: number) => boolean
  /** Partitions this broker led until this sync are led elsewhere now (or not replicated here any more). */
  leadershipLost?: (lost: { topic: string; partition: number }[]) => void
  log: Log
}

interface SentRole {
  config: TopicConfig
  partition: number
  role: 'leader' | 'follower'
  signature: string
}

export class Replicator {
  private pool: WorkerPool | undefined
  private links: ((id: number) => PeerLink | undefined) | undefined
  private readonly sent = new Map<string, SentRole>()
  /** The last 'follow' op sent to each worker, as JSON: the next is sent only when it differs. */
  private readonly following = new Map<number, string>()
  private readonly isr: IsrKeeper
  private readonly elections: Elections
  private timer: NodeJS.Timeout | undefined
  private scheduled = false
  /** Set by handOver(): this broker leads nothing from then on. */
  private leaving = false
  /** Partitions led here that stop being led here while a move hands them to another broker. */
  private readonly steppingDown = new Set<string>()
  /** Partitions placed elsewhere whose leftover copy here was looked for (once per process). */
  private readonly lookedForLeftovers = new Set<string>()
  private readonly moves: PartitionMoves

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
    this.moves = new PartitionMoves({
      self: opts.self,
      stats: opts.stats,
      view: opts.view,
      keys: opts.keys,
      client: opts.client,
      stepDown: (key, on) => {
        if (on) this.steppingDown.add(key)
        else this.steppingDown.delete(key)
        this.sync()
      },
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

  /** Start a move of a partition led here (TOPIC_ALTER moves): NOT_LEADER when it is led elsewhere. */
  startMove(topic: string, move: PartitionMove): Promise<void> {
    return this.moves.start(topic, move)
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

  /**
   * A copy of a partition placed elsewhere, found here once after this
   * process started: the partition was moved off this broker while it was
   * down (the topic is the same one, made at the same time: `all` holds only
   * current topics). Dropped as a live move's copy is.
   */
  private dropLeftover(pool: WorkerPool, topic: string, partition: number, key: string): void {
    if (this.lookedForLeftovers.has(key)) return
    this.lookedForLeftovers.add(key)
    if (this.opts.holdsCopy?.(topic, partition)) this.drop(pool, topic, partition)
  }

  private drop(pool: WorkerPool, topic: string, partition: number): void {
    pool.request(ownerOf(topic, partition, pool.size), { t: 'drop', topic, partition }).then(
      () => this.opts.log('info', 'copy of a partition moved off this broker dropped', { topic, partition }),
      (err: unknown) => this.opts.log('warn', 'copy of a partition moved off this broker not dropped', { topic, partition, err: (err as Error).message }),
    )
  }

  /**
   * Whether this broker's copy of a partition is left out of its replicas
   * while the topic (the same one, made at the same time) goes on: a move
   * took it off. Not a topic deleted, nor one not yet current here.
   */
  private movedOff(topic: string, partition: number): boolean {
    const { view } = this.opts
    const t = view.topics.get(topic)
    const rec = view.partition(originTopicOf(topic), partition)
    if (!t || !rec || rec.replicas.includes(this.opts.self.id)) return false
    return (this.opts.localCopyCurrent ?? (() => true))(topic, t.createdAt)
  }

  private tick(): void {
    const now = Date.now()
    this.sync()
    this.elections.check(now)
    const { view, self } = this.opts
    for (const [topic, partition, rec] of view.allPartitions()) {
      const t = view.topics.get(topic)
      if (!t || !replicated(t, rec) || rec.leader !== self.id || !leaderIsLive(rec, view.brokers)) continue
      this.isr.check(topic, partition, rec, now)
      this.moves.check(topic, partition, rec)
    }
  }

  /** Send each replicated partition's role to its worker when it changed, and give each fetcher its partitions. */
  private sync(): void {
    const pool = this.pool
    if (!pool) return
    const { view, self } = this.opts
    const followed = new Map<number, Followed[]>()
    const seen = new Set<string>()
    const lost: { topic: string; partition: number }[] = []
    // A topic's dead-letter partitions are replicated with their origin's (same replicas, leader and epoch).
    const all: [string, number, PartitionRecord][] = []
    const current = this.opts.localCopyCurrent ?? (() => true)
    for (const [topic, partition, rec] of view.allPartitions()) {
      // Not before this broker's copy of the topic is the cluster's (the roles would open an older
      // topic's partition, or one being removed): the copy's write calls changed() again.
      const t = view.topics.get(topic)
      if (t && !current(topic, t.createdAt)) continue
      all.push([topic, partition, rec])
      if (view.topics.has(deadLetterTopicOf(topic))) all.push([deadLetterTopicOf(topic), partition, rec])
    }
    for (const [topic, partition, rec] of all) {
      const t = view.topics.get(topic)
      if (!t || !replicated(t, rec)) continue
      const key = `${topic}/${partition}`
      if (!rec.replicas.includes(self.id)) {
        if (!this.sent.has(key)) this.dropLeftover(pool, topic, partition, key)
        continue
      }
      seen.add(key)
      const live = leaderIsLive(rec, view.brokers)
      if (rec.leader !== self.id) this.steppingDown.delete(key)
      const role = live && rec.leader === self.id && !this.leaving && !this.steppingDown.has(key) ? 'leader' : 'follower'
      const counted = new Set(rec.isr.map((m) => m.id))
      for (const id of this.isr.counting(key) ?? []) counted.add(id)
      const isr = [...counted].sort((a, b) => a - b)
      const signature = `${role}|${rec.leaderEpoch}|${isr.join(',')}|${t.minInSync}`
      const config = topicConfigOf(topic, t)
      const before = this.sent.get(key)
      if (before?.signature !== signature) {
        if (before?.role === 'leader' && role !== 'leader') lost.push({ topic, partition })
        this.sent.set(key, { config, partition, role, signature })
        pool.send(ownerOf(topic, partition, pool.size), { t: 'role', config, partition, self: self.id, role, epoch: rec.leaderEpoch, isr, minInSync: t.minInSync })
      }
      if (role === 'leader') continue
      this.isr.forget(key)
      // Not while its leadership is being handed over by a move: the finish in flight is remembered until the view shows it.
      if (rec.leader !== self.id) this.moves.forget(key)
      // Leading no more while its leadership is handed over: nothing to fetch from itself.
      if (!live || rec.leader === self.id) {
        this.opts.stats.set({ topic, partition, role: 'follower', leaderEpoch: rec.leaderEpoch, hw: this.opts.stats.replicas.get(key)?.hw ?? 0, endOffset: this.opts.stats.replicas.get(key)?.endOffset ?? 0, followers: [] })
        continue
      }
      let list = followed.get(rec.leader)
      if (!list) followed.set(rec.leader, (list = []))
      list.push({ topic, partition, epoch: rec.leaderEpoch })
    }
    for (const [key, s] of this.sent) {
      if (seen.has(key)) continue
      if (s.role === 'leader') lost.push({ topic: s.config.topic, partition: s.partition })
      this.sent.delete(key)
      this.isr.forget(key)
      this.moves.forget(key)
      this.opts.stats.drop(s.config.topic, s.partition)
      pool.send(ownerOf(s.config.topic, s.partition, pool.size), { t: 'role', config: s.config, partition: s.partition, self: self.id, role: 'none', epoch: 0, isr: [], minInSync: 1 })
      // Moved to other brokers (partition-moves.ts): this copy is no replica any more, and would only take disk.
      if (this.movedOff(s.config.topic, s.partition)) this.drop(pool, s.config.topic, s.partition)
    }
    this.opts.leadershipLost?.(lost)
    this.follow(pool, followed)
  }

  /**
   * Give each worker the leaders it fetches its followed partitions from,
   * when that changed. A leader this broker has no link to (not live, or no
   * broker credentials to offer) is left out until it has one: its fetches
   * would be refused.
   */
  private follow(pool: WorkerPool, followed: Map<number, Followed[]>): void {
    const perWorker: FollowedLeader[][] = Array.from({ length: pool.size }, () => [])
    for (const [leader, list] of followed) {
      // Links exist only to live brokers (peer-forward.ts).
      const link = this.links?.(leader)
      if (!link) continue
      const byWorker = new Map<number, Followed[]>()
      for (const f of list) {
        const w = ownerOf(f.topic, f.partition, pool.size)
        let share = byWorker.get(w)
        if (!share) byWorker.set(w, (share = []))
        share.push(f)
      }
      const { peer, hello, tls } = link.connection
      for (const [w, partitions] of byWorker) perWorker[w]!.push({ peer, hello, tls, partitions })
    }
    const { self } = this.opts
    for (let w = 0; w < pool.size; w++) {
      const leaders = perWorker[w]!
      const signature = JSON.stringify(leaders)
      if (this.following.get(w) === signature || (leaders.length === 0 && !this.following.has(w))) continue
      this.following.set(w, signature)
      pool.send(w, { t: 'follow', self: self.id, incarnation: self.incarnation, leaders })
    }
  }

  /** Where the workers' followed copies stand after their appends (the 'followed' op). */
  followed(positions: FollowerPosition[]): void {
    for (const p of positions) {
      const key = `${p.topic}/${p.partition}`
      // An append that finished after this broker stopped following the partition (or in an older epoch) says nothing now.
      const sent = this.sent.get(key)
      if (sent?.role !== 'follower' || !sent.signature.startsWith(`follower|${p.leaderEpoch}|`)) continue
      this.opts.stats.set({ topic: p.topic, partition: p.partition, role: 'follower', leaderEpoch: p.leaderEpoch, hw: p.hw, endOffset: p.endOffset, followers: [] })
    }
  }

  /**
   * SIGTERM: give every partition led here to an in-sync follower before the
   * broker leaves, so nothing waits for an election. First the workers stop
   * leading (confirms still waiting are answered NOT_LEADER: the client sends
   * them again, same sequence, to the new leader, which stores them once);
   * then each partition's key is rewritten by CAS to {leader: the first
   * in-sync member live in its incarnation, epoch + 1, the set without this
   * broker}. A partition with no such member is left to its followers'
   * election once this broker's key is gone. Bounded by `timeoutMs`.
   */
  async handOver(timeoutMs: number): Promise<void> {
    this.leaving = true
    this.sync()
    const { view, self } = this.opts
    const moves: Promise<void>[] = []
    for (const [topic, partition, rec] of view.allPartitions()) {
      const t = view.topics.get(topic)
      if (!t || !replicated(t, rec) || rec.leader !== self.id || !leaderIsLive(rec, view.brokers)) continue
      const next = rec.isr.find((m) => m.id !== self.id && isCurrent(m, view.brokers))
      if (!next) continue
      const record: PartitionRecord = { ...rec, leader: next.id, leaderEpoch: rec.leaderEpoch + 1, isr: rec.isr.filter((m) => m.id !== self.id) }
      const revision = view.partitionRevision(topic, partition)
      moves.push(
        casPartition(this.opts.client, this.opts.keys, topic, partition, revision, record).then(
          (done) => {
            if (!done) return
            this.opts.stats.handovers++
            this.opts.log('info', 'leadership handed over', { topic, partition, to: next.id, leaderEpoch: record.leaderEpoch })
          },
          (err: unknown) => this.opts.log('warn', 'leadership not handed over: its followers elect a leader once this broker is gone', { topic, partition, err: (err as Error).message }),
        ),
      )
    }
    if (moves.length === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(moves), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
    clearTimeout(timer)
  }

  stop(): void {
    clearInterval(this.timer)
    const pool = this.pool
    if (!pool) return
    // The workers' fetches end now, before the workers stop: nothing is fetched from a broker that is leaving.
    for (const w of this.following.keys()) pool.send(w, { t: 'follow', self: this.opts.self.id, incarnation: this.opts.self.incarnation, leaders: [] })
    this.following.clear()
  }
}

/**
 * A partition this broker replicates: its topic asks for more than one copy
 * and its key names more than one replica. A topic created with one copy is
 * never acted on, whatever its keys say (it waits for its broker, as a
 * single copy must).
 */
export function replicated(t: TopicRecord, rec: PartitionRecord): boolean {
  return t.replicationFactor > 1 && rec.replicas.length > 1
}
