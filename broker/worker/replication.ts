/**
 * The replication ops on one partition, for the worker that owns it: taking
 * a role, answering a follower's fetch (leader), appending what the leader
 * sent (follower), and at the end of a turn moving the high watermark and
 * settling what waited for it (partition.ts commit). replica.ts holds the
 * state and says what each role may do; CLUSTER.md "Data path with
 * replication" is the contract.
 */
import { SkiffError } from '../../protocol/errors.js'
import { readBatchHeader } from '../../protocol/batch.js'
import type { FetchPartition, FetchedPartition } from '../../protocol/frames/replication.js'
import { Replica, type ReplicaRole } from './replica.js'
import { DEDUP_WINDOW_MS } from './dedup-window.js'
import type { Partition } from './partition.js'
import type { PendingAppend, PendingConfirm } from './log-syncer.js'
import type { Outbox } from './outbox.js'
import { GroupCursor } from './group-cursor.js'
import { deleteGroup, purge } from './partition-admin.js'
import type { GroupSnapshot } from '../storage/group-state.js'
import { pack, unpack } from '../../protocol/codec.js'
import { ownsItsBuffer, transferOnPost } from '../thread-codec.js'

/** How often a follower is sent the partition's consumer-group state. */
export const GROUPS_EVERY_MS = 200
/** Groups one answer carries per partition (a topic rarely has more; the rest go in later answers). */
export const MAX_GROUPS_SENT = 1000
/**
 * How often a follower is sent an empty group state when the partition has
 * no durable group: that is how it learns that the last one was deleted (at
 * once after a delete, and every EMPTY_GROUPS_EVERY_MS for a follower that
 * was away then), without an answer per 200 ms per idle partition.
 */
export const EMPTY_GROUPS_EVERY_MS = 5000

/** Bytes of batches one fetch answer carries per partition (at least one whole batch). */
export const FETCH_BYTES_PER_PARTITION = 1024 * 1024

/** What a fetch answers for one partition, plus whether the follower counts as caught up (for the in-sync set). */
export type FetchAnswer = FetchedPartition & { caughtUp: boolean; acked: number }

/**
 * Replicated partition, end of turn: this turn's confirms join those waiting
 * for the high watermark, which moves as far as the local sync and the
 * followers allow (replica.ts); a follower's appends are answered with its
 * new end, its acknowledgement to the leader.
 */
export function settleReplicated(p: Partition, confirms: PendingConfirm[], outbox: Outbox): void {
  const replica = p.replica!
  for (const c of confirms) replica.wait(c.id, c.baseOffset, c.end)
  advanceHw(p, outbox)
  const syncer = p.syncer
  if (syncer.appends.length === 0) return
  // The acknowledgement is what is stored here (with fsync 'always', what a sync covered).
  const stored = syncer.storedEnd
  const answer = { endOffset: stored, lastEpoch: p.log.leaderEpochs.latestEpoch ?? -1, startOffset: p.log.startOffset }
  const waiting: PendingAppend[] = []
  for (const a of syncer.appends) {
    if (a.end <= stored) outbox.done(a.id, answer)
    else waiting.push(a)
  }
  syncer.appends = waiting
}

/**
 * Move the high watermark (a sync, or a follower's acknowledgement): confirm
 * what it passed, wake the consumers. With fsync 'always' only what a sync
 * covered counts as stored here; otherwise what was written.
 */
export function advanceHw(p: Partition, outbox: Outbox): void {
  const replica = p.replica
  if (!replica) return
  const before = replica.hw
  const { confirmed, refused } = replica.advance(p.syncer.storedEnd)
  for (const c of confirmed) outbox.done(c.id, c.baseOffset)
  for (const c of refused) {
    outbox.fail(c.id, 'NOT_ENOUGH_REPLICAS', `${p.topic}/${p.partition} lost in-sync replicas before the publish was replicated (in sync: ${replica.inSync}, minInSync ${replica.minInSync}); it may be stored: resend it with the same sequence`)
  }
  for (const w of replica.purgesReplicated()) outbox.done(w.id, w.result)
  if (replica.hw > before) p.needsPump = true
}

/**
 * Offsets below this may be handed to consumers: the high watermark of a
 * replicated partition; else, with fsync 'always', what a sync covered, and
 * the end of the log with the other policies.
 */
export function readableEnd(p: Partition): number {
  const replica = p.replica
  if (!replica) return p.syncer.storedEnd
  return replica.role === 'leader' ? Math.min(replica.hw, p.log.endOffset) : p.log.startOffset
}

/**
 * Take the role etcd gives this copy. Becoming leader in a new epoch: the
 * epoch is recorded in the log at its end before any batch of it (so a
 * follower diverging there is told where the old epoch ended), and the
 * idempotent producer's window is rebuilt from the log tail, which holds
 * every batch the old leader replicated here. Confirms left waiting by a
 * lost leadership are answered NOT_LEADER: the client resends them to the
 * new leader with the same sequence.
 */
export function applyRole(p: Partition, outbox: Outbox, self: number, role: ReplicaRole | 'none', epoch: number, isr: number[], minInSync: number): void {
  if (role === 'none') {
    if (!p.replica) return
    failWaiting(p, outbox, p.replica.update('follower', epoch, isr, minInSync))
    failPurges(p, outbox)
    p.syncer.abandon('NOT_LEADER', `${p.topic}/${p.partition} is no longer replicated on this broker`)
    p.replica = undefined
    return
  }
  const replica = (p.replica ??= new Replica(self))
  const wasLeader = replica.role === 'leader' && replica.epoch === epoch
  if (role === 'leader' && !wasLeader) {
    const log = p.log
    if (epoch > (log.leaderEpochs.latestEpoch ?? -1)) log.leaderEpochs.assign(epoch, log.endOffset)
    if (epoch > log.leaderEpoch) log.setLeaderEpoch(epoch)
    const now = Date.now()
    p.dedup.clear()
    p.dedup.restore(log.producerBatches(log.offsetForTimestamp(now - DEDUP_WINDOW_MS)), now)
    replica.hw = Math.min(replica.hw, log.endOffset)
  }
  failWaiting(p, outbox, replica.update(role, epoch, isr, minInSync))
  if (role !== 'leader') failPurges(p, outbox)
  // A follower hands consumers nothing (readableEnd), so the credits its groups got back meanwhile
  // wait: leading again must pump them now, not at the next append or ack, which may never come to
  // a topic no longer written. (A broker whose etcd session lapsed follows every partition until it
  // is registered again, then leads the same ones in the same epoch: acks in between hit this.)
  if (role === 'leader' && !wasLeader) p.needsPump = true
  p.advanceHw()
}

/**
 * A partition dropped here (its topic deleted, or moved to other brokers):
 * every reply still waiting for it is answered now rather than never.
 */
export function abandonPartition(p: Partition, outbox: Outbox): void {
  if (p.replica) applyRole(p, outbox, p.replica.self, 'none', 0, [], 1)
  p.syncer.abandon('PARTITION_UNAVAILABLE', `${p.topic}/${p.partition} was dropped on this broker (its topic deleted, or moved to other brokers) before its data was synced: try again`)
}

function failWaiting(p: Partition, outbox: Outbox, left: { id: number }[]): void {
  for (const c of left) outbox.fail(c.id, 'NOT_LEADER', `leadership of ${p.topic}/${p.partition} moved before the publish was replicated; it may be stored: resend it with the same sequence`)
}

function failPurges(p: Partition, outbox: Outbox): void {
  for (const w of p.replica!.takePurges()) {
    outbox.fail(w.id, 'NOT_LEADER', `leadership of ${p.topic}/${p.partition} moved before every in-sync replica had dropped the purged records; purge the topic again`)
  }
}

/**
 * TOPIC_PURGE on one partition: on a replicated one only its leader purges,
 * and answers once every in-sync follower has dropped the records too
 * (Replica.waitPurge): a follower learns the new start from the next answer
 * to its fetch, which the purge sends at once (held fetches are woken).
 */
export function purgePartition(p: Partition, id: number, outbox: Outbox): void {
  const replica = p.replica
  if (replica) replica.checkLeads(p.topic, p.partition)
  const result = purge(p)
  if (!replica) return outbox.done(id, result)
  replica.waitPurge(id, result.startOffset, result)
  replica.groupsChanged() // the group positions moved up to the new start, and held fetches are answered now
  p.advanceHw()
}

/**
 * Leader: answer one partition of a follower's fetch. The fetch offset is
 * the follower's acknowledgement, counted only in this epoch and only when
 * its log agrees with this one up to there (else it is told where its last
 * epoch ends here, Kafka's divergingEpoch, and truncates).
 */
export function answerFetch(p: Partition | undefined, req: FetchPartition, follower: number, maxBytes = FETCH_BYTES_PER_PARTITION): FetchAnswer {
  const base = { topic: req.topic, partition: req.partition, batches: EMPTY, caughtUp: false, acked: req.fetchOffset }
  const replica = p?.replica
  if (!p || !replica || replica.role !== 'leader') return { ...base, hw: 0, leaderEnd: 0, error: 'NOT_LEADER' }
  const log = p.log
  const leaderEnd = log.endOffset
  // Another epoch than this leader's: an older one is a follower behind on etcd, a newer one means this broker is; either way nothing is counted.
  if (req.leaderEpoch !== replica.epoch) return { ...base, hw: replica.hw, leaderEnd, error: 'NOT_LEADER' }
  const diverging = divergence(p, req)
  if (diverging) return { ...base, hw: replica.hw, leaderEnd, divergingEpoch: diverging }
  const caughtUp = replica.acknowledge(follower, req.fetchOffset, leaderEnd)
  const followerStart = req.logStart ?? 0
  replica.acknowledgeStart(follower, followerStart)
  p.advanceHw()
  const batches = maxBytes > 0 ? log.readBatches(req.fetchOffset, maxBytes) : []
  const logStart = followerStart < log.startOffset ? log.startOffset : undefined
  return { ...base, hw: replica.hw, leaderEnd, batches: joined(batches), caughtUp, logStart }
}

/**
 * Leader: the partition's group state for `follower` when it is due one
 * (every GROUPS_EVERY_MS, or at once after a reset or a delete), else
 * undefined. Asked only for an answer that leaves now (fetch-sessions.ts):
 * asking marks the state sent.
 */
export function dueGroupState(p: Partition | undefined, follower: number): Uint8Array | undefined {
  const replica = p?.replica
  if (!p || !replica || replica.role !== 'leader') return undefined
  const now = Date.now()
  return replica.groupsDue(follower, now, GROUPS_EVERY_MS) ? groupState(p, follower, now) : undefined
}

/**
 * A fetch answer's batches as one byte range. One batch is the log's own
 * (a view of its read cache, copied once into the thread hop); several are
 * joined into a buffer of their own, which the hop transfers to the gateway
 * instead of copying (thread-codec.ts: transferOnPost).
 */
function joined(batches: Buffer[]): Uint8Array {
  if (batches.length === 0) return EMPTY
  if (batches.length === 1) return batches[0]!
  const out = Buffer.concat(batches)
  if (ownsItsBuffer(out)) transferOnPost(out)
  return out
}

/**
 * The partition's consumer groups as a follower keeps them (CLUSTER.md:
 * group state is replicated with its partition): each durable group's
 * snapshot, as its saver writes it. It rides on answers that leave anyway
 * (fetch-sessions.ts), so a follower's copy is at most GROUPS_EVERY_MS
 * (plus a fetch) behind while records flow, and at most a held fetch's wait
 * (FETCH_MAX_WAIT_MS, 500 ms) when none do. A new leader redelivers what
 * was acked in that window (at-least-once), and never skips anything: a
 * position only moves forward once its records were acked here. A reset
 * or a delete is sent at once (Replica.groupsChanged). A list of fewer than
 * MAX_GROUPS_SENT is the whole set: the follower drops the groups it lacks
 * (deleted here), so a new leader does not bring a deleted group back.
 */
function groupState(p: Partition, follower: number, now: number): Uint8Array | undefined {
  const out: [string, GroupSnapshot][] = []
  for (const c of p.cursors.values()) {
    if (c.ephemeral) continue
    out.push([c.group, c.snapshot()])
    if (out.length === MAX_GROUPS_SENT) break
  }
  if (out.length === 0 && !p.replica!.emptyGroupsDue(follower, now, EMPTY_GROUPS_EVERY_MS)) return undefined
  return pack(out)
}

/** Follower: take the leader's group state (see groupState); a group new here is made durable at once, a known one saved on the next round. */
export function applyGroupState(p: Partition, bytes: Uint8Array): void {
  const list = unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as unknown
  if (!Array.isArray(list)) throw new SkiffError('INVALID_REQUEST', `group state for ${p.topic}/${p.partition} is not a list`)
  const named = new Set<string>()
  for (const entry of list) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !isSnapshot(entry[1])) continue
    const [group, snapshot] = entry as [string, GroupSnapshot]
    named.add(group)
    const known = p.cursors.get(group)
    // An idle group comes every few hundred milliseconds unchanged: saving it again would be a write and an fsync for nothing.
    if (known && sameSnapshot(known.snapshot(), snapshot)) continue
    const cursor = new GroupCursor(group, 0, snapshot)
    if (known) {
      // Members subscribed while this broker led the partition keep their place: when it leads
      // again they are served, without their clients having to notice and subscribe again.
      // What they held is in the snapshot's deliveries, redelivered from there (at-least-once).
      for (const m of known.releaseMembers()) cursor.addMember(m)
      cursor.dirty = true
    } else p.saver.create(cursor)
    p.cursors.set(group, cursor)
  }
  if (list.length < MAX_GROUPS_SENT) dropGroupsNotIn(p, named)
}

/**
 * Follower: drop the durable groups the leader's whole list lacks (deleted
 * there), as GROUP_DELETE does on the leader. A group with members
 * subscribed here is kept: they subscribed while this broker led the
 * partition, and a delete refuses a group in use (or, forced, ended those
 * subscriptions on the leader that had them).
 */
function dropGroupsNotIn(p: Partition, named: ReadonlySet<string>): void {
  for (const [group, c] of p.cursors) {
    if (c.ephemeral || named.has(group) || c.members.length > 0) continue
    void deleteGroup(p, group, c).catch(() => {})
  }
}

function sameSnapshot(a: GroupSnapshot, b: GroupSnapshot): boolean {
  // `next` is not compared: a cursor made from a snapshot starts at its floor (group-cursor.ts), whatever the leader's next.
  if (a.floor !== b.floor || a.acked.length !== b.acked.length || a.deliveries.length !== b.deliveries.length) return false
  const acked = new Set(a.acked)
  if (!b.acked.every((o) => acked.has(o))) return false
  const counts = new Map(a.deliveries)
  return b.deliveries.every(([o, c]) => counts.get(o) === c)
}

function isSnapshot(v: unknown): v is GroupSnapshot {
  if (v === null || typeof v !== 'object') return false
  const s = v as Record<string, unknown>
  return Number.isSafeInteger(s.next) && Number.isSafeInteger(s.floor) && Array.isArray(s.acked) && Array.isArray(s.deliveries)
}

const EMPTY = new Uint8Array(0)

function divergence(p: Partition, req: FetchPartition): { epoch: number; endOffset: number } | undefined {
  const log = p.log
  const epochs = log.leaderEpochs
  if (req.lastFetchedEpoch !== undefined) {
    const end = epochs.endOffsetFor(req.lastFetchedEpoch, log.endOffset)
    if (!end) {
      const latest = epochs.latest()
      return { epoch: latest?.epoch ?? 0, endOffset: log.endOffset }
    }
    if (end.epoch !== req.lastFetchedEpoch || end.endOffset < req.fetchOffset) return end
  }
  if (req.fetchOffset > log.endOffset) return { epoch: epochs.latestEpoch ?? 0, endOffset: log.endOffset }
  return undefined
}

/**
 * Follower: truncate where the leader said, drop what lies below the
 * leader's start (a purge there), then append its batches verbatim (Kafka's
 * rule for the cut: truncationPoint). Refused when this copy now follows a
 * newer epoch than the fetch was made in (the answer comes from a deposed
 * leader) or leads. The answer ({endOffset, lastEpoch, startOffset}) goes
 * out after the sync that covers the appends.
 */
export function appendFromLeader(p: Partition, id: number, epoch: number, hw: number, logStart: number, batches: Uint8Array, diverging: { epoch: number; endOffset: number } | undefined, groups: Uint8Array): void {
  const replica = p.replica
  if (!replica || replica.role !== 'follower') throw new SkiffError('NOT_LEADER', `${p.topic}/${p.partition} is not followed here`)
  if (epoch < replica.epoch) throw new SkiffError('INVALID_REQUEST', `data of epoch ${epoch} for ${p.topic}/${p.partition}, which follows epoch ${replica.epoch} now: refused`)
  const log = p.log
  // Only what changed the log needs a sync. An answer that brought no batches (the leader's high
  // watermark moved, or group state came) is answered with what is stored already. Syncing every
  // followed partition at every round doubled a follower's fsyncs in a busy cluster: each one for
  // nothing took a pool thread and held up the next real sync of its partition (one runs at a
  // time), which the follower's next fetch waits for (bench/README.md, Round 20).
  let wrote = false
  if (diverging) {
    log.truncateTo(truncationPoint(p, diverging))
    wrote = true
  }
  if (logStart > log.startOffset && log.dropBefore(logStart) > 0) {
    for (const c of p.cursors.values()) c.truncateTo(log.startOffset)
    wrote = true
  }
  const buf = Buffer.from(batches.buffer, batches.byteOffset, batches.byteLength)
  // Batches that came in an ArrayBuffer of their own (thread-layout.ts REPL_APPEND) are kept as they
  // came: the read cache holds views of it, and it lives until the last of them leaves the cache. Any
  // others are a view of the turn's ops, which must not stay alive for them: each batch is copied.
  const own = ownsItsBuffer(batches)
  for (let at = 0; at < buf.length; ) {
    const h = readBatchHeader(buf, at)
    if (!h || at + h.size > buf.length) throw new SkiffError('INVALID_REQUEST', `replicated data for ${p.topic}/${p.partition} ends inside a batch at byte ${at}`)
    // An overlap is what a fetch answered twice gives (a retry after a lost answer): skip what is here already.
    if (h.baseOffset + h.count > log.endOffset) {
      const batch = buf.subarray(at, at + h.size)
      log.appendReplicated(own ? batch : Buffer.from(batch))
      wrote = true
    }
    at += h.size
  }
  if (groups.length > 0) applyGroupState(p, groups)
  replica.hw = Math.max(replica.hw, Math.min(hw, log.endOffset))
  if (wrote) p.syncer.markUnsynced()
  p.syncer.appends.push({ id, end: log.endOffset })
}

/** Where a follower cuts its log when the leader says its epoch `epoch` ends at `endOffset`: there, or where that epoch ends here if sooner. */
export function truncationPoint(p: Partition, diverging: { epoch: number; endOffset: number }): number {
  const log = p.log
  const local = log.leaderEpochs.endOffsetFor(diverging.epoch, log.endOffset)
  return local ? Math.min(diverging.endOffset, local.endOffset) : Math.min(diverging.endOffset, log.endOffset)
}
