/**
 * A replicated partition's role on this broker, as its worker sees it
 * (CLUSTER.md "Data path with replication"). The gateway tells the worker
 * the role, epoch and in-sync set it read from etcd ('role' op); the worker
 * enforces them on the data path, where safety lives (invariant 3):
 *
 * Leader
 * - takes publishes only while the in-sync set it counts has at least
 *   minInSync members (else NOT_ENOUGH_REPLICAS, nothing stored);
 * - counts each follower's acknowledgement: the fetchOffset of its fetches
 *   made in this epoch (everything below it is fsynced there);
 * - high watermark = min(its own fsynced end, every counted in-sync
 *   follower's acknowledgement), never moving back; a publish is confirmed
 *   once the HW passes its last record, and consumers are handed only
 *   records below the HW;
 * - when the in-sync set it counts falls below minInSync, the confirms
 *   still waiting fail with NOT_ENOUGH_REPLICAS (retriable: an idempotent
 *   resend is stored once), and the HW stops;
 * - answers a purge once every counted follower's log starts where the
 *   purge left this one (its fetches say where theirs starts), so a new
 *   leader elected from the in-sync set never brings purged records back;
 *   a purge waiting when leadership moves is answered NOT_LEADER.
 *
 * The set it counts is the one the gateway gives, which is etcd's set plus
 * any follower whose addition is in flight (an expansion counts the
 * follower's acks before the CAS writes it in; a shrink is written first and
 * only then stops being counted: CLUSTER.md "ISR").
 *
 * Follower
 * - appends what its leader sends verbatim (storage checks each batch's CRC),
 *   after truncating where the leader says its log diverges; its fetches
 *   carry the epoch it follows, and an answer from an older epoch than the
 *   one it now knows is refused;
 * - takes no publishes and serves no consumers.
 */
import { SkiffError } from '../../protocol/errors.js'

export type ReplicaRole = 'leader' | 'follower'

/** A confirm waiting for the HW to pass `end` (its last record + 1). */
interface WaitingConfirm {
  id: number
  baseOffset: number
  end: number
}

/** A purge answered once every counted follower's log starts at `start`; `result` is its answer. */
interface WaitingPurge {
  id: number
  start: number
  result: { partition: number; startOffset: number; purged: number }
}

export class Replica {
  role: ReplicaRole = 'follower'
  epoch = 0
  /** Brokers whose acknowledgements bound the HW, this one included. */
  private counted: number[] = []
  minInSync = 1
  hw = 0
  /** Each follower's acknowledged offset in this epoch. */
  private readonly acked = new Map<number, number>()
  /** Each follower's log start as its last fetch in this epoch gave it. */
  private readonly startAcked = new Map<number, number>()
  private purges: WaitingPurge[] = []
  /** Each follower's leader end at the last answer to it (it is caught up when its next fetch reaches that). */
  private readonly endAtAnswer = new Map<number, number>()
  private waiting: WaitingConfirm[] = []
  /** When each follower was last sent the group state. */
  private readonly groupsSent = new Map<number, number>()
  /** When each follower was last sent an empty group state (no durable group here). */
  private readonly emptyGroupsSent = new Map<number, number>()

  constructor(readonly self: number) {}

  /**
   * Take the role the gateway read from etcd. Returns what a change of
   * leadership leaves behind: confirms waiting here that will not be given
   * (answered NOT_LEADER by the caller: the client resends to the new leader).
   */
  update(role: ReplicaRole, epoch: number, isr: readonly number[], minInSync: number): WaitingConfirm[] {
    const newTerm = role !== this.role || epoch !== this.epoch
    this.role = role
    this.epoch = epoch
    this.counted = isr.includes(this.self) ? [...isr] : [this.self, ...isr]
    this.minInSync = minInSync
    if (!newTerm) return []
    this.acked.clear()
    this.startAcked.clear()
    this.endAtAnswer.clear()
    this.groupsSent.clear()
    this.emptyGroupsSent.clear()
    // Still leader in a new epoch (re-elected): the waiting batches are in this log, which stays the
    // partition's; they are confirmed when the HW of the new epoch passes them, as before.
    if (role === 'leader') return []
    const left = this.waiting
    this.waiting = []
    return left
  }

  /** Refuse what only the leader may do (a publish, a purge). */
  checkLeads(topic: string, partition: number): void {
    if (this.role !== 'leader') throw new SkiffError('NOT_LEADER', `broker ${this.self} does not lead ${topic}/${partition} (epoch ${this.epoch})`, { details: { topic, partition, leaderEpoch: this.epoch } })
  }

  /** Refuse a publish this copy must not store (the data-path check behind the gateway's). */
  checkWritable(topic: string, partition: number): void {
    this.checkLeads(topic, partition)
    if (this.counted.length < this.minInSync) {
      throw new SkiffError('NOT_ENOUGH_REPLICAS', `${topic}/${partition} has ${this.counted.length} in-sync replica(s), fewer than its minInSync ${this.minInSync}`, { details: { topic, partition, inSync: this.counted.length, minInSync: this.minInSync } })
    }
  }

  get inSync(): number {
    return this.counted.length
  }

  /** A confirm covered by the local fsync: answered once the HW passes its end. */
  wait(id: number, baseOffset: number, end: number): void {
    this.waiting.push({ id, baseOffset, end })
  }

  /** A follower's fetch in this epoch acknowledged `offset`. Returns true when it is caught up (Kafka's rule: it reached the end the previous answer saw). */
  acknowledge(follower: number, offset: number, leaderEnd: number): boolean {
    const before = this.acked.get(follower)
    if (before === undefined || offset > before) this.acked.set(follower, offset)
    const caughtUp = offset >= (this.endAtAnswer.get(follower) ?? leaderEnd)
    this.endAtAnswer.set(follower, leaderEnd)
    return caughtUp
  }

  /** Where `follower`'s log starts, as its fetch in this epoch says. */
  acknowledgeStart(follower: number, start: number): void {
    this.startAcked.set(follower, start)
  }

  /** Answer `id` with `result` once every counted follower's log starts at `start` or later (purgesReplicated). */
  waitPurge(id: number, start: number, result: WaitingPurge['result']): void {
    this.purges.push({ id, start, result })
  }

  /** The waiting purges every counted follower has applied (each then answered by the caller). */
  purgesReplicated(): WaitingPurge[] {
    if (this.purges.length === 0 || this.role !== 'leader') return []
    const done: WaitingPurge[] = []
    this.purges = this.purges.filter((w) => {
      const everywhere = this.counted.every((id) => id === this.self || (this.startAcked.get(id) ?? 0) >= w.start)
      if (everywhere) done.push(w)
      return !everywhere
    })
    return done
  }

  /** Leadership moved: the purges still waiting (answered NOT_LEADER by the caller). */
  takePurges(): WaitingPurge[] {
    const left = this.purges
    this.purges = []
    return left
  }

  /** True when `follower` was not sent the group state since a group was reset or deleted (or ever): its fetch is answered at once. */
  groupsOwed(follower: number): boolean {
    return !this.groupsSent.has(follower)
  }

  /** True when `follower` is due the group state again (every `everyMs`). */
  groupsDue(follower: number, now: number, everyMs: number): boolean {
    if (now - (this.groupsSent.get(follower) ?? 0) < everyMs) return false
    this.groupsSent.set(follower, now)
    return true
  }

  /** True when `follower` is due an empty group state (every `everyMs`), so that it drops groups deleted here. */
  emptyGroupsDue(follower: number, now: number, everyMs: number): boolean {
    if (now - (this.emptyGroupsSent.get(follower) ?? 0) < everyMs) return false
    this.emptyGroupsSent.set(follower, now)
    return true
  }

  /** A group was made, reset or deleted: every follower is owed the group state at once (its held fetch is answered, fetch-sessions.ts). */
  groupsChanged(): void {
    this.groupsSent.clear()
    this.emptyGroupsSent.clear()
  }

  ackedBy(follower: number): number | undefined {
    return this.acked.get(follower)
  }

  /**
   * Move the HW as far as `durableEnd` (this copy's fsynced end) and the
   * counted followers allow, and hand back the confirms it passed. Below
   * minInSync it does not move and every waiting confirm is handed back as
   * `refused`.
   */
  advance(durableEnd: number): { confirmed: WaitingConfirm[]; refused: WaitingConfirm[] } {
    if (this.role !== 'leader') return { confirmed: [], refused: [] }
    if (this.counted.length < this.minInSync) {
      const refused = this.waiting
      this.waiting = []
      return { confirmed: [], refused }
    }
    let hw = durableEnd
    for (const id of this.counted) {
      if (id === this.self) continue
      const a = this.acked.get(id) ?? 0
      if (a < hw) hw = a
    }
    if (hw > this.hw) this.hw = hw
    let n = 0
    while (n < this.waiting.length && this.waiting[n]!.end <= this.hw) n++
    if (n === 0) return { confirmed: [], refused: [] }
    const confirmed = this.waiting.slice(0, n)
    this.waiting = this.waiting.slice(n)
    return { confirmed, refused: [] }
  }
}
