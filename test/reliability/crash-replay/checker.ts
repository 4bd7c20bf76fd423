/**
 * What must hold after a power loss at a cut point, and whether an
 * observation (observe.ts) of the broker started on that disk holds it.
 *
 * A cut point is "power lost just before file operation j": the disk has
 * what operations 0..j-1 made durable (durability-model.ts), and the clients
 * may have seen every frame the broker wrote before operation j (the
 * strictest reading, since more frames can only have been seen later).
 *
 * Checks, each with a key so two views of one cut point can be compared:
 *  - starts: the broker starts; serves: it answers every request made of it.
 *  - topic: a topic whose TOPIC_CREATE was answered exists.
 *  - publish: a record whose PUBLISH_ACK was written is read by a fresh group
 *    at the partition and offset the ack named, with its payload.
 *  - group-skip: the workload's group, subscribing again, is delivered every
 *    confirmed record of its topic that the consumer may not have acked yet:
 *    all of them except those that had been delivered before the cut and
 *    that the consumer acked at some point (at-least-once; a sound
 *    approximation, as the acks the consumer sent are not in the trace). A
 *    record may instead be in the dead-letter topic, with its payload: the
 *    one the consumer terms is taken off the group that way.
 *  - group-position: the group resumes at or after the committed floor of
 *    its last save that finished (the groups directory's fsync returned)
 *    before the cut: a restart does not replay what a finished save recorded.
 *  - damage: the broker logs no error and reports no corruption and no lost
 *    group state (the states replayed here are short, never damaged).
 */
import { unpack } from '../../../protocol/index.js'
import type { Replies } from './replies.js'
import type { Observation } from './observe.js'
import type { WorkloadFacts } from './workload.js'

export type CheckName = 'starts' | 'serves' | 'topic' | 'publish' | 'group-skip' | 'group-position' | 'damage'

export interface Problem {
  check: CheckName
  /** Identifies the failing expectation (e.g. `publish alpha/0/3`). */
  key: string
  detail: string
  /** The partition of the group's topic, for the group checks. */
  partition?: number
}

/** A group save that finished: the groups directory was fsynced after the rename that put it in place. */
export interface FinishedSave {
  seq: number
  partition: number
  floor: number
}

export interface ConfirmedRecord {
  topic: string
  partition: number
  offset: number
  payload: string
  /** seq of the socket write that carried its PUBLISH_ACK. */
  seq: number
}

/** Everything the checks need, with the trace position (seq) at which each thing became true. */
export interface Timeline {
  groupTopic: string
  created: Map<string, number>
  confirmed: ConfirmedRecord[]
  /** `partition/offset` of the group's topic -> seq of its first delivery. */
  deliveredAt: Map<string, number>
  acked: Set<string>
  saves: FinishedSave[]
}

export function timelineOf(facts: WorkloadFacts, replies: Replies, saves: FinishedSave[]): Timeline {
  const created = new Map(replies.created.map((c) => [c.topic, c.seq]))
  // An ack in its compact form gives the first offset of a run: a record belongs to the ack with the
  // greatest first offset at or below it, in its topic and partition (every publish of the workload is acked).
  const runs = new Map<string, { first: number; seq: number }[]>()
  const explicit = new Map<string, number>()
  for (const a of replies.acks) {
    if (typeof a.partition === 'number' && typeof a.offset === 'number') {
      const key = `${a.topic}/${a.partition}`
      runs.set(key, [...(runs.get(key) ?? []), { first: a.offset, seq: a.seq }])
    } else {
      const offsets = a.offset as number | number[]
      const parts = a.partition
      const n = Array.isArray(offsets) ? offsets.length : (parts as number[]).length
      for (let i = 0; i < n; i++) {
        const p = Array.isArray(parts) ? parts[i]! : parts
        const o = Array.isArray(offsets) ? offsets[i]! : offsets + i
        explicit.set(`${a.topic}/${p}/${o}`, a.seq)
      }
    }
  }
  const confirmed: ConfirmedRecord[] = []
  for (const r of facts.published) {
    let seq = explicit.get(`${r.topic}/${r.partition}/${r.offset}`)
    if (seq === undefined) {
      const covering = (runs.get(`${r.topic}/${r.partition}`) ?? []).filter((run) => run.first <= r.offset).sort((a, b) => b.first - a.first)[0]
      seq = covering?.seq
    }
    if (seq === undefined) throw new Error(`no PUBLISH_ACK in the trace covers ${r.topic}/${r.partition}/${r.offset}`)
    confirmed.push({ ...r, seq })
  }
  const deliveredAt = new Map<string, number>()
  for (const d of replies.deliveries) {
    const key = `${d.partition}/${d.offset}`
    if (!deliveredAt.has(key)) deliveredAt.set(key, d.seq)
  }
  return { groupTopic: facts.spec.topics[0]!.topic, created, confirmed, deliveredAt, acked: facts.acked, saves }
}

/** The committed floor in a group-state file (broker/storage/group-state.ts format), or undefined when it is not one. */
export function floorOfStateFile(file: Buffer): number | undefined {
  if (file.length < 16 || file.toString('latin1', 0, 4) !== 'SKGS') return undefined
  try {
    const body = unpack(file.subarray(16)) as { floor?: unknown }
    return typeof body.floor === 'number' ? body.floor : undefined
  } catch {
    return undefined
  }
}

/** Problems of an observation at the cut point before the operation with trace position `cutSeq`. */
export function check(obs: Observation, tl: Timeline, cutSeq: number): Problem[] {
  if (obs.startError !== undefined) return [{ check: 'starts', key: 'starts', detail: `the broker did not start: ${obs.startError}` }]
  const problems: Problem[] = []
  if (obs.serveError !== undefined) problems.push({ check: 'serves', key: 'serves', detail: `a request failed: ${obs.serveError}` })
  for (const [topic, seq] of tl.created) {
    if (seq < cutSeq && !obs.topics.includes(topic)) problems.push({ check: 'topic', key: `topic ${topic}`, detail: `topic ${topic} is gone; its creation was answered` })
  }
  for (const r of tl.confirmed) {
    if (r.seq >= cutSeq) continue
    const where = `${r.topic}/${r.partition}/${r.offset}`
    const got = obs.records.get(where)
    if (got !== r.payload) {
      problems.push({ check: 'publish', key: `publish ${where}`, detail: `${where}: ${got === undefined ? 'missing' : `holds ${JSON.stringify(got)}`}, confirmed as ${JSON.stringify(r.payload)}` })
    }
  }
  const deadLetters = new Set<string>()
  for (const [where, payload] of obs.records) if (where.startsWith(`${tl.groupTopic}.dlq/`)) deadLetters.add(payload)
  for (const r of tl.confirmed) {
    if (r.seq >= cutSeq || r.topic !== tl.groupTopic) continue
    const key = `${r.partition}/${r.offset}`
    const delivered = tl.deliveredAt.get(key)
    const mayBeAcked = delivered !== undefined && delivered < cutSeq && tl.acked.has(key)
    if (!mayBeAcked && !obs.delivered.has(key) && !deadLetters.has(r.payload)) {
      problems.push({ check: 'group-skip', key: `group-skip ${key}`, partition: r.partition, detail: `the group is not delivered ${tl.groupTopic}/${key}, which it had not acked, and it is not in ${tl.groupTopic}.dlq` })
    }
  }
  const lastSave = new Map<number, number>()
  for (const s of tl.saves) if (s.seq < cutSeq) lastSave.set(s.partition, s.floor)
  for (const [partition, floor] of lastSave) {
    const committed = obs.committed.get(partition)
    if (floor > 0 && (committed === undefined || committed < floor)) {
      problems.push({
        check: 'group-position',
        key: `group-position ${partition}`,
        partition,
        detail: `the group resumes ${tl.groupTopic}/${partition} at ${committed ?? 'the start (no state)'}, below the floor ${floor} of its last finished save`,
      })
    }
  }
  for (const w of obs.warnings) {
    if (/^error:|corrupt|unreadable|state lost/.test(w)) problems.push({ check: 'damage', key: `damage ${w}`, detail: `the broker logged ${w}` })
  }
  return problems
}
