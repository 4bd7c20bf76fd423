/**
 * Elections (CLUSTER.md): when a replicated partition's leader is gone (its
 * broker key disappeared, or came back as a new incarnation), each member
 * that may be elected (replica-roles.ts `electable`) waits rank × RANK_MS,
 * then tries Txn(If mod_revision(partition) == what it saw, and its own
 * broker key exists) → {leader: itself, leaderEpoch + 1}. The first to win
 * changes the mod revision, so every later try fails; losers see the new
 * leader through the watch. No controller, no lock: etcd's CAS decides.
 * Nobody outside the in-sync set is ever elected (no unclean election).
 *
 * A broker whose lease is lost does not stand (it will not be live when the
 * others look), nor does one still joining.
 */
import type { ClusterView } from './cluster-view.js'
import type { EtcdClient } from './etcd/client.js'
import type { ClusterKeys } from './keys.js'
import { casPartition } from './partition-cas.js'
import { electable, leaderIsLive } from './replica-roles.js'
import type { IsrMember, PartitionRecord } from './records.js'
import type { ReplicationStats } from './replication-stats.js'

export const RANK_MS = 300

export interface ElectionsOptions {
  self: IsrMember
  view: ClusterView
  keys: ClusterKeys
  client: EtcdClient
  stats: ReplicationStats
  holdsLease: () => boolean
  log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

export class Elections {
  /** Per partition: the key revision a try was planned against, and when it may run. */
  private readonly planned = new Map<string, { revision: number; at: number; trying: boolean }>()

  constructor(private readonly opts: ElectionsOptions) {}

  /** Look at every replicated partition this broker holds (on each view change and on a timer). */
  check(now: number): void {
    const { view, self } = this.opts
    const seen = new Set<string>()
    for (const [topic, partition, rec] of view.allPartitions()) {
      const t = view.topics.get(topic)
      if (!t || t.replicationFactor < 2 || rec.replicas.length < 2 || !rec.replicas.includes(self.id) || leaderIsLive(rec, view.brokers)) continue
      if (!this.opts.holdsLease() || !view.brokers.has(self.id)) continue
      const { mode, members } = electable(rec, view.brokers)
      const rank = members.findIndex((m) => m.id === self.id && (mode === 'recovered' || m.incarnation === self.incarnation))
      if (rank < 0) continue
      const key = `${topic}/${partition}`
      seen.add(key)
      const revision = view.partitionRevision(topic, partition)
      const plan = this.planned.get(key)
      if (!plan || plan.revision !== revision) {
        this.planned.set(key, { revision, at: now + rank * RANK_MS, trying: false })
        continue
      }
      if (plan.trying || now < plan.at) continue
      plan.trying = true
      const isr = mode === 'clean' ? members.map((m) => (m.id === self.id ? self : m)) : [self]
      void this.stand(topic, partition, revision, rec, isr, mode).finally(() => (plan.trying = false))
    }
    for (const key of this.planned.keys()) if (!seen.has(key)) this.planned.delete(key)
  }

  private async stand(topic: string, partition: number, revision: number, rec: PartitionRecord, isr: IsrMember[], mode: string): Promise<void> {
    const { self } = this.opts
    // A move under way (`target`) goes on under the new leader.
    const next: PartitionRecord = { ...rec, leader: self.id, leaderEpoch: rec.leaderEpoch + 1, isr }
    try {
      if (!(await casPartition(this.opts.client, this.opts.keys, topic, partition, revision, next, self.id))) return
    } catch (err) {
      this.opts.log('warn', 'election not settled: etcd did not answer', { topic, partition, err: (err as Error).message })
      return
    }
    this.opts.stats.elections++
    this.opts.log('info', 'elected leader', { topic, partition, leaderEpoch: next.leaderEpoch, previous: rec.leader, mode, isr: isr.map((m) => m.id) })
  }
}
