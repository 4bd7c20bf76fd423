/**
 * Followers' fetches held by a leader's worker while they have nothing new
 * (Kafka's fetch.max.wait): a fetch that finds no batch, no divergence and
 * no error waits until one of its partitions is appended to or has a group
 * made, reset or deleted (checked at the end of each turn, after the appends
 * of the turn), until the gateway wakes
 * it (another worker answered the same fetch with data), or until its
 * maxWaitMs passes (checked on the worker's 50 ms tick). So an idle cluster
 * costs a fetch per follower per maxWaitMs, and a busy one answers within
 * the turn that appended.
 */
import type { ToWorker } from '../thread-messages.js'
import type { WorkerContext } from './context.js'
import type { Outbox } from './outbox.js'
import { answerFetch, dueGroupState, FETCH_BYTES_PER_PARTITION, type FetchAnswer } from './replication.js'

type FetchOp = Extract<ToWorker, { t: 'replFetch' }>

/** Sessions one worker may hold (a follower has one fetch in flight per leader; the gateway bounds followers). */
const MAX_HELD = 1024

export class FetchSessions {
  private readonly held = new Map<number, { op: FetchOp; deadline: number }>()
  /** A fetch was answered this turn: its answer should leave before the turn's fsync (partition-worker.ts). */
  answered = false

  constructor(
    private readonly ctx: WorkerContext,
    private readonly outbox: Outbox,
  ) {}

  /**
   * Routine group state (due every GROUPS_EVERY_MS) is no reason to answer
   * at once: it goes with the next answer that leaves, with records or when
   * the wait ends. Answering a fetch early for it made an extra round per
   * partition and follower every 200 ms, about as many rounds again as the
   * records needed in a busy replicated S1 (bench/README.md, Round 16). A
   * follower owed the state since a group was reset or deleted, or never
   * sent it, is still answered at once (Replica.groupsOwed).
   */
  fetch(op: FetchOp, now: number): void {
    const answers = this.answer(op)
    if (op.maxWaitMs === 0 || this.held.size >= MAX_HELD || answers.some((a) => a.divergingEpoch || a.error) || op.fetch.some((req) => this.hasNews(req, op.follower))) {
      this.send(op, answers)
      this.answered = true
      return
    }
    this.held.set(op.session, { op, deadline: now + op.maxWaitMs })
  }

  wake(session: number): void {
    const h = this.held.get(session)
    if (!h) return
    this.held.delete(session)
    this.send(h.op, this.answer(h.op))
  }

  /**
   * End of turn, before the fsync: answer the held fetches that have
   * something new now. The followers get this turn's appends while the
   * leader syncs them (the HW waits for both anyway), as Kafka's followers
   * do: the two fsyncs overlap instead of following each other.
   */
  afterTurn(): void {
    if (this.held.size === 0) return
    for (const [session, h] of this.held) {
      if (!h.op.fetch.some((req) => this.hasNews(req, h.op.follower))) continue
      this.held.delete(session)
      this.send(h.op, this.answer(h.op))
      this.answered = true
    }
  }

  /** New batches for this fetch, or the follower is owed the group state (a group made, reset or deleted since it was last sent). */
  private hasNews(req: FetchOp['fetch'][number], follower: number): boolean {
    const p = this.ctx.existing(req.topic, req.partition)
    if (!p) return false
    return p.log.endOffset > req.fetchOffset || p.replica?.groupsOwed(follower) === true
  }

  /** Answer the fetches whose wait is over. */
  expire(now: number): void {
    for (const [session, h] of this.held) {
      if (h.deadline > now) continue
      this.held.delete(session)
      this.send(h.op, this.answer(h.op))
    }
  }

  /** The answers go: each partition's group state joins its answer when due (dueGroupState marks it sent). */
  private send(op: FetchOp, answers: FetchAnswer[]): void {
    for (let i = 0; i < answers.length; i++) {
      const a = answers[i]!
      if (a.error || a.divergingEpoch) continue
      const req = op.fetch[i]!
      a.groups = dueGroupState(this.ctx.existing(req.topic, req.partition), op.follower)
    }
    this.outbox.answer(op, answers)
  }

  /** Each partition's answer, the batches within the op's byte budget (a partition past it is acknowledged, its data left for the next fetch). */
  private answer(op: FetchOp): FetchAnswer[] {
    let left = op.maxBytes
    return op.fetch.map((req) => {
      const a = answerFetch(this.ctx.existing(req.topic, req.partition), req, op.follower, Math.min(left, FETCH_BYTES_PER_PARTITION))
      left -= a.batches.length
      return a
    })
  }
}
