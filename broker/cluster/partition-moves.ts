/**
 * Moving a replicated partition to other brokers (TOPIC_ALTER `moves`), in
 * the way of Kafka's partition reassignment, but with etcd compare-and-swap
 * and no controller: only the partition's leader writes its key (CLUSTER.md
 * invariant 5), and an election during a move carries it on (elections.ts
 * keeps `target`).
 *
 * 1. Start, by the leader (asked directly, or forwarded by the broker a
 *    client asked): CAS {replicas: old + new, target}. The new brokers find
 *    themselves among the replicas and follow the leader from its log start
 *    (replicator.ts), the partition's group state and dead letters with it;
 *    the in-sync set takes each in once it has caught up (isr-keeper.ts), as
 *    any follower.
 * 2. Finish, by the leader on its tick, once every target broker is in the
 *    in-sync set in its current incarnation: CAS {replicas: target, isr:
 *    the in-sync members of the target, no target}. When the leader is not
 *    in the target, it first stops leading here (its waiting confirms are
 *    answered NOT_LEADER and sent again by the client), and the same CAS
 *    makes a target broker leader in epoch + 1, as a SIGTERM hand-over does.
 *    No confirmed record is lost: the new leader was in the in-sync set, so
 *    it holds every record the old one confirmed.
 * 3. A broker left out of the replicas stops following and drops its copy
 *    (replicator.ts).
 *
 * Decisions written down here:
 * - The target has as many brokers as the topic's replication factor: a
 *   move places copies, it does not change how many there are. A topic with
 *   one copy cannot move (its partitions are not replicated).
 * - Every target broker must be live when the move is asked. One that dies
 *   during the move leaves it waiting, the partition served by the brokers
 *   it has, until that broker is back or a new move names others.
 * - A new move replaces one under way: the replicas become those there are
 *   plus the new target, and the finish drops every broker outside the new
 *   target. Asking for the move under way, or for the replicas the
 *   partition has, changes nothing.
 * - The leader's choice when it leaves: the first target broker, in the
 *   order asked, that is in sync (the order is the operator's preference).
 */
import { SkiffError, type PartitionMove } from '../../protocol/index.js'
import { isDeadLetterTopic } from '../../protocol/names.js'
import type { ClusterView } from './cluster-view.js'
import type { EtcdClient } from './etcd/client.js'
import type { ClusterKeys } from './keys.js'
import { casPartition } from './partition-cas.js'
import { isCurrent, leaderIsLive } from './replica-roles.js'
import type { IsrMember, PartitionRecord } from './records.js'
import type { ReplicationStats } from './replication-stats.js'

/** Most replicas a partition's key holds (records.ts): the old ones and the new ones together. */
const MAX_REPLICAS = 64
/** A start whose CAS lost to another change of the key (an in-sync set change) is tried again from the new view. */
const START_TRIES = 20
const START_RETRY_MS = 50

export interface MovesOptions {
  self: IsrMember
  view: ClusterView
  keys: ClusterKeys
  client: EtcdClient
  stats: ReplicationStats
  /** Stop or resume leading `key` here before the finishing CAS (replicator.ts sends the role). */
  stepDown: (key: string, on: boolean) => void
  log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

/** Throws INVALID_REQUEST unless every move of `topic` may be asked now (checked by the broker asked, and again by the leader). */
export function checkMoves(view: ClusterView, topic: string, moves: readonly PartitionMove[]): void {
  const t = view.topics.get(topic)
  if (!t) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist in the cluster`, { details: { topic } })
  if (isDeadLetterTopic(topic)) throw new SkiffError('INVALID_REQUEST', `${topic} is a dead-letter topic: its partitions move with those of the topic it belongs to`)
  if (t.replicationFactor < 2) throw new SkiffError('INVALID_REQUEST', `topic ${topic} has one copy of each partition: only replicated partitions move`)
  for (const m of moves) {
    if (m.partition >= t.partitions) throw new SkiffError('INVALID_REQUEST', `topic ${topic} has no partition ${m.partition} (it has ${t.partitions})`)
    if (m.replicas.length !== t.replicationFactor) {
      throw new SkiffError('INVALID_REQUEST', `partition ${m.partition} of ${topic} has ${t.replicationFactor} copies: name ${t.replicationFactor} brokers to move it to, not ${m.replicas.length}`)
    }
    const gone = m.replicas.filter((id) => !view.brokers.has(id))
    if (gone.length > 0) throw new SkiffError('INVALID_REQUEST', `partition ${m.partition} of ${topic} cannot move to broker ${gone.join(', ')}: not live in the cluster`, { details: { brokers: gone } })
    const rec = view.partition(topic, m.partition)
    if (rec && new Set([...rec.replicas, ...m.replicas]).size > MAX_REPLICAS) {
      throw new SkiffError('INVALID_REQUEST', `partition ${m.partition} of ${topic} would hold more than ${MAX_REPLICAS} replicas while it moves`)
    }
  }
}

export class PartitionMoves {
  /**
   * Partitions whose finishing CAS is in flight or done, by the key revision
   * it compared: looked at again only once the view has moved past it (a
   * CAS that won shows in the view a little later; acting on the old record
   * meanwhile would undo the step down).
   */
  private readonly finishing = new Map<string, number>()

  constructor(private readonly opts: MovesOptions) {}

  /** Start `m` on a partition led here (NOT_LEADER otherwise); resolves once its key records the move. */
  async start(topic: string, m: PartitionMove): Promise<void> {
    const { view, self } = this.opts
    for (let tries = 0; ; tries++) {
      checkMoves(view, topic, [m])
      const rec = view.partition(topic, m.partition)
      if (!rec || rec.leader !== self.id || !leaderIsLive(rec, view.brokers)) {
        throw new SkiffError('NOT_LEADER', `broker ${self.id} does not lead ${topic}/${m.partition}`, { details: { topic, partition: m.partition, ...(rec && { leader: rec.leader }) } })
      }
      if (sameSet(rec.target ?? rec.replicas, m.replicas) && (rec.target === undefined || sameOrder(rec.target, m.replicas))) return
      const next: PartitionRecord = { ...rec, replicas: [...new Set([...rec.replicas, ...m.replicas])], target: m.replicas }
      if (await casPartition(this.opts.client, this.opts.keys, topic, m.partition, view.partitionRevision(topic, m.partition), next)) {
        this.opts.log('info', 'partition move started', { topic, partition: m.partition, from: rec.replicas, to: m.replicas })
        return
      }
      if (tries + 1 >= START_TRIES) {
        throw new SkiffError('PARTITION_UNAVAILABLE', `${topic}/${m.partition} kept changing while its move was recorded: try again`, { details: { topic, partition: m.partition } })
      }
      await new Promise((resolve) => setTimeout(resolve, START_RETRY_MS))
    }
  }

  /** A partition no longer led here. */
  forget(key: string): void {
    this.finishing.delete(key)
  }

  /** The leader's tick, for a partition led here: finish its move once every target broker is in sync. */
  check(topic: string, partition: number, rec: PartitionRecord): void {
    const target = rec.target
    const key = `${topic}/${partition}`
    const { view, self } = this.opts
    const revision = view.partitionRevision(topic, partition)
    if (this.finishing.get(key) === revision) return
    this.finishing.delete(key)
    if (!target) return
    const inSync = (id: number) => rec.isr.some((m) => m.id === id && isCurrent(m, view.brokers))
    if (!target.every(inSync)) return
    const isr = rec.isr.filter((m) => target.includes(m.id))
    const leader = target.includes(self.id) ? self.id : target.find(inSync)!
    const next: PartitionRecord = { leader, leaderEpoch: leader === self.id ? rec.leaderEpoch : rec.leaderEpoch + 1, replicas: target, isr }
    this.finishing.set(key, revision)
    if (leader !== self.id) this.opts.stepDown(key, true)
    const lost = () => {
      // Leading goes on here, and the next tick looks again (from the new view, if the key moved).
      this.finishing.delete(key)
      if (leader !== self.id) this.opts.stepDown(key, false)
    }
    casPartition(this.opts.client, this.opts.keys, topic, partition, revision, next).then(
      (done) => {
        if (!done) return lost()
        this.opts.stats.moves++
        this.opts.log('info', 'partition moved', { topic, partition, from: rec.replicas.filter((id) => !target.includes(id)), replicas: target, leader, leaderEpoch: next.leaderEpoch })
      },
      (err: unknown) => {
        lost()
        this.opts.log('warn', 'partition move not finished: tried again', { topic, partition, err: (err as Error).message })
      },
    )
  }
}

/** The same brokers, in any order. */
export function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id))
}

function sameOrder(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => b[i] === id)
}
