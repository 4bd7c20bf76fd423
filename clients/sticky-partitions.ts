/**
 * Where a cluster producer's keyless records go: one partition per batch
 * (Kafka's sticky partitioner, KIP-480). A topic's keyless records join the
 * batch their partition is filling; once that batch has closed (the end of
 * the turn, MAX_BATCH_RECORDS, or the batch's byte limit), the next keyless
 * record moves on to the next partition, round-robin over those whose leader
 * is connected (cluster-router.ts). Records that wait for admission (past
 * maxInFlight) are in no batch yet: they stick for the turn they were made
 * in, at most a batch's worth of them.
 *
 * Why per batch: every batch costs the same whatever its size, on the
 * leader (a PUBLISH, a dedup check, an append, a confirm) and on each
 * follower (a fetched batch, its append); sticking for 50 records made
 * batches of 50 and replicated S1 ran at a third of the rate batches of 1,000
 * give (bench/README.md). A single broker spreads keyless batches the same
 * way (round-robin per batch, broker/routing.ts).
 *
 * Decision: publish() and send() keep separate sticky partitions, as they
 * fill separate batches.
 */
import type { TopicPlacement } from '../protocol/index.js'
import { MAX_BATCH_RECORDS } from './outbox.js'

interface Sticky {
  partition: number
  /** The batch its records are going into, once one was seen open (undefined while they wait for admission). */
  batch: object | undefined
  /** The turn the partition was picked in, and how many records were given it since. */
  turn: number
  records: number
}

export interface StickyOptions {
  /** The batch (topic, confirm, partition) is filling now, if any (the producer's outbox). */
  openBatch(topic: string, confirm: boolean, partition: number): object | undefined
  /** The next partition of the topic, round-robin among those reachable, or undefined when it has none. */
  next(t: TopicPlacement): number | undefined
}

/** Topics remembered; past this the map is cleared (a producer writing to that many topics re-picks). */
const TOPICS_MAX = 1024

export class StickyPartitions {
  private readonly confirmed = new Map<string, Sticky>()
  private readonly unconfirmed = new Map<string, Sticky>()
  private turn = 0
  private turnEnding = false

  constructor(private readonly opts: StickyOptions) {}

  /** The partition for the next keyless record of `t` (publish() when `confirm`, else send()), or undefined when there is none. */
  pick(t: TopicPlacement, confirm: boolean): number | undefined {
    const topic = t.topic
    const byTopic = confirm ? this.confirmed : this.unconfirmed
    const s = byTopic.get(topic)
    if (s && s.partition < t.partitions.length && this.stillFilling(topic, confirm, s)) {
      s.records++
      return s.partition
    }
    const partition = this.opts.next(t)
    if (partition === undefined) return undefined
    if (!s && byTopic.size >= TOPICS_MAX) byTopic.clear()
    byTopic.set(topic, { partition, batch: undefined, turn: this.currentTurn(), records: 1 })
    return partition
  }

  private stillFilling(topic: string, confirm: boolean, s: Sticky): boolean {
    const open = this.opts.openBatch(topic, confirm, s.partition)
    if (s.batch !== undefined) return open === s.batch
    if (open !== undefined) {
      s.batch = open
      return true
    }
    return s.turn === this.turn && s.records < MAX_BATCH_RECORDS
  }

  /** A number that changes once the current turn of the event loop is over. */
  private currentTurn(): number {
    if (!this.turnEnding) {
      this.turnEnding = true
      setImmediate(() => {
        this.turnEnding = false
        this.turn++
      })
    }
    return this.turn
  }
}
