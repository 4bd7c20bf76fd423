/**
 * The leader's side of the in-sync set (CLUSTER.md "ISR"; invariant 5: only
 * the leader writes its partition's key). From the fetches its followers
 * make (`fetched`), it knows when each was last caught up; on each check:
 *
 * - Shrink: a member whose broker is not live, is live in another
 *   incarnation (it restarted: it must catch up again before it counts), or
 *   was last caught up longer than replicaLagMs ago, is written out by CAS;
 *   the worker goes on counting it until the watch brings the new set
 *   (shrink: CAS first, then stop counting).
 * - Expand: a replica outside the set that is live and was caught up within
 *   the last second is first counted by the worker (`counting`: the role op
 *   carries the set plus additions in flight), then the worker is asked
 *   whether its acknowledgement has reached the high watermark (so it holds
 *   every confirmed record), and only then written in by CAS.
 *
 * One change per partition at a time; a CAS that fails (the key moved: an
 * election, another change) is simply tried again from the new view.
 */
import type { ClusterView } from './cluster-view.js'
import type { EtcdClient } from './etcd/client.js'
import type { ClusterKeys } from './keys.js'
import { casPartition } from './partition-cas.js'
import type { IsrMember, PartitionRecord } from './records.js'
import type { FollowerLag, ReplicationStats } from './replication-stats.js'

/** How recently a replica must have been caught up to join the set. */
const EXPAND_WITHIN_MS = 1000

export interface Progress {
  incarnation: string
  /** Its last fetch's offset, and the leader's end then. */
  acked: number
  leaderEnd: number
  lastCaughtUp: number
}

export interface IsrKeeperOptions {
  self: number
  view: ClusterView
  keys: ClusterKeys
  client: EtcdClient
  stats: ReplicationStats
  replicaLagMs: number
  /** Ask the owning worker whether `follower`'s acknowledgement is at the HW (after it counts it). */
  caughtUp: (topic: string, partition: number, follower: number) => Promise<boolean>
  /** The counted sets changed: send the roles again. */
  recount: () => void
  log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

export class IsrKeeper {
  private readonly progress = new Map<string, Map<number, Progress>>()
  /** When this broker started leading each partition (in its current epoch): the lag clock of members not heard from yet. */
  private readonly since = new Map<string, { epoch: number; at: number }>()
  private readonly changing = new Set<string>()
  /** Followers being added, counted by the worker before the CAS. */
  private readonly adding = new Map<string, Set<number>>()

  constructor(private readonly opts: IsrKeeperOptions) {}

  /** The followers whose additions are in flight for a partition. */
  counting(key: string): ReadonlySet<number> | undefined {
    return this.adding.get(key)
  }

  fetched(key: string, follower: number, p: Progress, caughtUp: boolean, now: number): void {
    let m = this.progress.get(key)
    if (!m) this.progress.set(key, (m = new Map()))
    const before = m.get(follower)
    const lastCaughtUp = caughtUp ? now : before && before.incarnation === p.incarnation ? before.lastCaughtUp : 0
    m.set(follower, { ...p, lastCaughtUp })
  }

  /** Partitions led here, checked once per tick. */
  check(topic: string, partition: number, rec: PartitionRecord, now: number): void {
    const key = `${topic}/${partition}`
    const start = this.since.get(key)
    if (!start || start.epoch !== rec.leaderEpoch) this.since.set(key, { epoch: rec.leaderEpoch, at: now })
    const since = this.since.get(key)!.at
    const progress = this.progress.get(key)
    this.report(topic, partition, rec, progress, now)
    if (this.changing.has(key)) return
    const { brokers } = this.opts.view
    const lagging = (m: IsrMember) => {
      const b = brokers.get(m.id)
      if (!b) return 'not live'
      if (b.incarnation !== m.incarnation) return 'restarted'
      const p = progress?.get(m.id)
      const last = p && p.incarnation === m.incarnation ? Math.max(p.lastCaughtUp, since) : since
      return now - last > this.opts.replicaLagMs ? `not caught up for ${now - last} ms` : undefined
    }
    const out = rec.isr.filter((m) => m.id !== this.opts.self && lagging(m) !== undefined)
    if (out.length > 0) {
      const reasons = out.map((m) => `${m.id}: ${lagging(m)}`)
      this.change(key, topic, partition, rec, { ...rec, isr: rec.isr.filter((m) => !out.includes(m)) }, 'shrink', reasons)
      return
    }
    for (const id of rec.replicas) {
      if (id === this.opts.self || rec.isr.some((m) => m.id === id)) continue
      const b = brokers.get(id)
      const p = progress?.get(id)
      if (!b || !p || p.incarnation !== b.incarnation || now - p.lastCaughtUp > EXPAND_WITHIN_MS) continue
      void this.expand(key, topic, partition, rec, { id, incarnation: b.incarnation, dirId: b.dirId })
      return
    }
  }

  private async expand(key: string, topic: string, partition: number, rec: PartitionRecord, member: IsrMember): Promise<void> {
    this.changing.add(key)
    let set = this.adding.get(key)
    if (!set) this.adding.set(key, (set = new Set()))
    set.add(member.id)
    this.opts.recount()
    try {
      if (!(await this.opts.caughtUp(topic, partition, member.id))) return
      await this.write(topic, partition, rec, { ...rec, isr: [...rec.isr, member] }, 'expand', [`${member.id}: caught up`])
    } catch (err) {
      this.opts.log('warn', 'in-sync set not changed', { topic, partition, err: (err as Error).message })
    } finally {
      set.delete(member.id)
      if (set.size === 0) this.adding.delete(key)
      this.changing.delete(key)
      this.opts.recount()
    }
  }

  private change(key: string, topic: string, partition: number, rec: PartitionRecord, next: PartitionRecord, kind: 'shrink' | 'expand', reasons: string[]): void {
    this.changing.add(key)
    this.write(topic, partition, rec, next, kind, reasons)
      .catch((err: unknown) => this.opts.log('warn', 'in-sync set not changed', { topic, partition, err: (err as Error).message }))
      .finally(() => this.changing.delete(key))
  }

  private async write(topic: string, partition: number, rec: PartitionRecord, next: PartitionRecord, kind: 'shrink' | 'expand', reasons: string[]): Promise<void> {
    const revision = this.opts.view.partitionRevision(topic, partition)
    if (!(await casPartition(this.opts.client, this.opts.keys, topic, partition, revision, next))) return
    if (kind === 'shrink') this.opts.stats.isrShrinks++
    else this.opts.stats.isrExpands++
    this.opts.log('info', kind === 'shrink' ? 'in-sync set shrunk' : 'in-sync set expanded', { topic, partition, leaderEpoch: rec.leaderEpoch, isr: next.isr.map((m) => m.id), why: reasons.join('; ') })
  }

  private report(topic: string, partition: number, rec: PartitionRecord, progress: Map<number, Progress> | undefined, now: number): void {
    const followers: FollowerLag[] = rec.replicas
      .filter((id) => id !== this.opts.self)
      .map((id) => {
        const p = progress?.get(id)
        return { broker: id, records: p ? Math.max(0, p.leaderEnd - p.acked) : 0, ms: p ? (p.lastCaughtUp === 0 ? now - (this.since.get(`${topic}/${partition}`)?.at ?? now) : now - p.lastCaughtUp) : 0, inSync: rec.isr.some((m) => m.id === id) }
      })
    const prev = this.opts.stats.replicas.get(`${topic}/${partition}`)
    this.opts.stats.set({ topic, partition, role: 'leader', leaderEpoch: rec.leaderEpoch, hw: prev?.role === 'leader' ? prev.hw : 0, endOffset: prev?.role === 'leader' ? prev.endOffset : 0, followers })
  }

  /** Forget a partition no longer led here. */
  forget(key: string): void {
    this.progress.delete(key)
    this.since.delete(key)
  }
}
