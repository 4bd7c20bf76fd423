/**
 * Who may act for a replicated partition, read from its key (CLUSTER.md):
 * a leader counts only while its broker key is live in the same
 * incarnation its in-sync entry names. A leader that restarted is a new
 * incarnation: it lost whatever it had not synced, so it may not simply go
 * on in the same epoch (a follower could hold records it no longer has, at
 * offsets it would give out again); an election among the others, or among
 * the recovered set after a whole-cluster restart, gives the partition a new
 * epoch instead.
 */
import type { BrokerRecord, IsrMember, PartitionRecord } from './records.js'

type Brokers = ReadonlyMap<number, BrokerRecord>

/** The in-sync member whose broker is live in the incarnation the set names. */
export function isCurrent(m: IsrMember, brokers: Brokers): boolean {
  return brokers.get(m.id)?.incarnation === m.incarnation
}

export function leaderIsLive(p: PartitionRecord, brokers: Brokers): boolean {
  const entry = p.isr.find((m) => m.id === p.leader)
  return entry !== undefined && isCurrent(entry, brokers)
}

/**
 * Who may be elected when the leader is gone, best first, and how: 'clean',
 * the in-sync members live in the incarnation the set names (each holds every
 * confirmed record: a confirm waited for all of them); or, when none is
 * (every broker restarted), once every member of the last in-sync set is
 * back, 'recovered': those whose data directory is the one they had when
 * they joined the set (a wiped disk is a new, empty replica, never trusted).
 * Decision: the first of them in the set's order wins, not the longest log:
 * every one of them holds every confirmed record, so a shorter choice costs
 * only records that were never confirmed (their producers resend them).
 * Empty: nobody may be elected now.
 */
export function electable(p: PartitionRecord, brokers: Brokers): { mode: 'clean' | 'recovered'; members: IsrMember[] } {
  const clean = p.isr.filter((m) => m.id !== p.leader && isCurrent(m, brokers))
  if (clean.length > 0) return { mode: 'clean', members: clean }
  if (p.isr.some((m) => isCurrent(m, brokers))) return { mode: 'clean', members: [] }
  if (!p.isr.every((m) => brokers.has(m.id))) return { mode: 'recovered', members: [] }
  return { mode: 'recovered', members: p.isr.filter((m) => m.dirId === undefined || brokers.get(m.id)!.dirId === m.dirId) }
}
