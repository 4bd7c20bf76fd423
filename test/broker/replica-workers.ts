/**
 * Two or more partition workers driven in-process as brokers of a cluster
 * (replication-worker.test.ts): each a PartitionWorker on its own temp data
 * dir, with the gateway side played by the test, every op both ways through
 * the real thread codec, and the replica fetcher's rounds (fetch on the
 * leader, its answer appended on the follower) as functions.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PartitionWorker } from '../../broker/worker/partition-worker.js'
import type { FromWorker, ToWorker, TopicConfig, WorkerData } from '../../broker/thread-messages.js'
import { ThreadCodec } from '../../broker/thread-codec.js'
import { writeTopicConfig } from '../../broker/topic-store.js'
import { encodeRecord } from '../../protocol/index.js'
import { delivered } from './delivered.js'
import type { FetchAnswer } from '../../broker/worker/replication.js'
import type { PartitionLog } from '../../broker/storage/partition-log.js'

export const TOPIC = 'orders'
export const CONFIG: TopicConfig = { topic: TOPIC, partitions: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 1024 * 1024, createdAt: 1 }

type Role = 'leader' | 'follower' | 'none'

/** What the follower tells its leader in its next fetch: its end (acknowledgement), the epoch of its last batch, and where its log starts. */
export interface FollowerPosition {
  endOffset: number
  lastEpoch: number
  startOffset: number
}

let nextId = 1000
/** A reply id no op of these tests used before. */
export const newId = (): number => ++nextId

/** One broker's worker: the gateway side played by the test, every op both ways through the thread codec. */
export class Broker {
  readonly ops: FromWorker[] = []
  readonly worker: PartitionWorker
  readonly clock = { now: Date.now() }
  private readonly codec = new ThreadCodec()

  constructor(
    readonly self: number,
    readonly dir: string,
  ) {
    writeTopicConfig(dir, CONFIG)
    const data: WorkerData = { workerId: 0, workers: 1, dataDir: dir, fsync: 'always', groupCommitMs: 1000, retentionCheckMs: 0, maxFrame: 1024 * 1024 }
    this.worker = new PartitionWorker({ data, post: (ops) => this.ops.push(...(this.codec.unpack(this.codec.pack(ops), this.codec.attachments) as FromWorker[])), clock: () => this.clock.now })
    this.worker.start()
  }

  /** One turn: the ops as the gateway packs them, then the end of the turn (sync, confirms, deliveries). */
  async turn(...ops: ToWorker[]): Promise<void> {
    this.worker.handle(this.codec.unpack(this.codec.pack(ops), this.codec.attachments) as ToWorker[])
    this.worker.endTurn()
    // The turns that follow its sync (on the libuv pool with fsync 'always'), until none is running.
    await this.worker.syncsDone()
  }

  reply(id: number): FromWorker | undefined {
    return this.ops.find((o) => (o.t === 'done' || o.t === 'fail') && o.id === id)
  }

  async role(role: Role, epoch: number, isr: number[], minInSync: number): Promise<void> {
    await this.turn({ t: 'role', config: CONFIG, partition: 0, self: this.self, role, epoch, isr, minInSync })
  }

  async publish(payloads: string[], opts: { producerId?: number; sequence?: number } = {}): Promise<number> {
    const id = ++nextId
    const records = Buffer.concat(payloads.map((p) => encodeRecord({ payload: Buffer.from(p) })))
    await this.turn({ t: 'pub', id, topic: TOPIC, partition: 0, count: payloads.length, records, confirm: true, producerId: opts.producerId, sequence: opts.sequence })
    return id
  }

  async subscribe(group: string, conn = 1, sub = 7, opts: { maxInFlight?: number; ackNone?: boolean } = {}): Promise<void> {
    const id = ++nextId
    await this.turn({ t: 'sub', id, conn, sub, topic: TOPIC, partition: 0, group, start: 'earliest', startValue: undefined, maxInFlight: opts.maxInFlight ?? 100, creditPool: id, ackTimeoutMs: 30_000, maxDeliveries: 5, ackNone: opts.ackNone ?? false })
    if (this.reply(id)?.t !== 'done') throw new Error(`subscribe failed: ${JSON.stringify(this.reply(id))}`)
  }

  async ack(group: string, first: number, count: number, conn = 1, sub = 7): Promise<void> {
    await this.turn({ t: 'settle', conn, sub, topic: TOPIC, partition: 0, group, kind: 'ack', ranges: [first, count], delayMs: 0 })
  }

  /** Leader: a follower's fetch of the partition; the answer, or undefined while the fetch is held. */
  async fetch(follower: number, req: { leaderEpoch: number; fetchOffset: number; lastFetchedEpoch?: number | undefined; logStart?: number | undefined }, maxWaitMs = 0): Promise<{ id: number; answer: FetchAnswer | undefined }> {
    const id = ++nextId
    await this.turn({ t: 'replFetch', id, session: id, follower, maxWaitMs, maxBytes: 4 * 1024 * 1024, fetch: [{ topic: TOPIC, partition: 0, ...req }] })
    return { id, answer: this.fetchAnswer(id) }
  }

  fetchAnswer(id: number): FetchAnswer | undefined {
    return this.fetchAnswers(id)[0]
  }

  /** Every partition's answer to fetch `id` ([] while it is held). */
  fetchAnswers(id: number): FetchAnswer[] {
    const r = this.reply(id)
    if (!r) return []
    if (r.t !== 'done') throw new Error(`fetch failed: ${JSON.stringify(r)}`)
    return r.result as FetchAnswer[]
  }

  /** Follower: the leader's answer appended; what it answers (after its sync), or the failure. */
  async append(epoch: number, a: Pick<FetchAnswer, 'hw' | 'batches' | 'divergingEpoch' | 'groups' | 'logStart'>): Promise<FromWorker> {
    const id = ++nextId
    await this.turn({ t: 'replAppend', id, topic: TOPIC, partition: 0, epoch, hw: a.hw, logStart: a.logStart ?? 0, batches: a.batches, diverging: a.divergingEpoch, groups: a.groups ?? new Uint8Array(0) })
    const r = this.reply(id)
    if (!r) throw new Error('replAppend not answered in its turn')
    return r
  }

  /** The follower's position as the replica fetcher learns it at start: an empty append. */
  async learn(epoch: number): Promise<FollowerPosition> {
    const r = await this.append(epoch, { hw: 0, batches: new Uint8Array(0), divergingEpoch: undefined, groups: undefined })
    if (r.t !== 'done') throw new Error(`learn failed: ${JSON.stringify(r)}`)
    return r.result as FollowerPosition
  }

  get log(): PartitionLog {
    return this.worker.ctx.existing(TOPIC, 0)!.log
  }

  /** Every message delivered so far: [offset, deliveryCount, payload]. */
  deliveries(): [number, number, string][] {
    return delivered(this.ops).map((d) => [d.offset, d.count, d.payload])
  }
}

export function brokers(t: { teardown(fn: () => unknown): void }, ...ids: number[]): Broker[] {
  return ids.map((id) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `skiff-repl-${id}-`))
    const b = new Broker(id, dir)
    t.teardown(async () => {
      await b.worker.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    })
    return b
  })
}

/** One fetch round of `follower` from `leader` in `epoch`: fetch at its position, append the answer; the new position. */
export async function round(leader: Broker, follower: Broker, epoch: number, pos: FollowerPosition): Promise<{ answer: FetchAnswer; pos: FollowerPosition }> {
  const { answer } = await leader.fetch(follower.self, { leaderEpoch: epoch, fetchOffset: pos.endOffset, lastFetchedEpoch: pos.lastEpoch >= 0 ? pos.lastEpoch : undefined, logStart: pos.startOffset })
  if (!answer) throw new Error('fetch held')
  if (answer.error) return { answer, pos }
  const r = await follower.append(epoch, answer)
  if (r.t !== 'done') throw new Error(`append failed: ${JSON.stringify(r)}`)
  return { answer, pos: r.result as FollowerPosition }
}

/** Rounds until the follower's fetch brings nothing new and no divergence (its last fetch acknowledged everything). */
export async function catchUp(leader: Broker, follower: Broker, epoch: number, pos: FollowerPosition): Promise<FollowerPosition> {
  for (let i = 0; i < 20; i++) {
    const r = await round(leader, follower, epoch, pos)
    if (r.answer.error) throw new Error(`fetch refused: ${r.answer.error}`)
    if (r.answer.batches.length === 0 && !r.answer.divergingEpoch) return r.pos
    pos = r.pos
  }
  throw new Error('no catch-up in 20 rounds')
}

export const all = (log: PartitionLog) => Buffer.concat(log.readBatches(0, 1 << 30))
