/**
 * Keeping an idempotent producer's batches of one partition in order across
 * a retriable refusal, on one connection.
 *
 * A client pipelines batches: when the leader refuses batch A ("send it
 * again": NOT_LEADER, PARTITION_UNAVAILABLE, NOT_ENOUGH_REPLICAS), batch B
 * of the same producer and partition may already be on its way behind it.
 * A refusal can end between the two (a leader's registration renewed just
 * after A found it about to lapse): B would be stored, and A, sent again,
 * after it, out of the order the producer published them in. So after a
 * refusal this connection refuses the same producer's later batches of that
 * partition (a higher sequence: a producer numbers its batches in the order
 * it writes them) with the same error, until a batch at or below the refused
 * sequence comes: the client sends the earliest held batch again first and
 * alone (clients/outbox.ts), then the rest in order. Kafka gets the same
 * from its brokers refusing an out-of-order sequence.
 *
 * Decisions written down here:
 * - A fence lasts FENCE_MS after its last refusal. A client that sends the
 *   refused batch elsewhere (another leader) or gives up on it does not send
 *   it here again; then the later batches wait at most FENCE_MS here, as a
 *   retriable refusal, before they are taken again.
 * - Per connection, at most MAX_FENCES (the oldest goes first): a client
 *   cannot grow the broker's memory with them. A fence forgotten early only
 *   loses this ordering help, never a record.
 * - Only batches with a producer id and sequence: other batches carry no
 *   order to keep across a re-send.
 */
import { SkiffError } from '../protocol/index.js'

export const FENCE_MS = 2000
export const MAX_FENCES = 256

interface Fence {
  sequence: number
  code: SkiffError['code']
  until: number
}

export class PublishFences {
  private readonly fences = new Map<string, Fence>()

  /** The refusal a batch gets because an earlier one of its producer and partition was refused here, or undefined. */
  check(producerId: number, sequence: number, topic: string, partition: number, now: number): SkiffError | undefined {
    if (this.fences.size === 0) return undefined
    const key = keyOf(producerId, topic, partition)
    const fence = this.fences.get(key)
    if (!fence) return undefined
    if (now >= fence.until || sequence <= fence.sequence) {
      // Expired, or the refused batch (or an earlier one) is back: what follows it may be stored again.
      this.fences.delete(key)
      return undefined
    }
    return new SkiffError(fence.code, `${topic}/${partition}: batch ${fence.sequence} of producer ${producerId} was refused (${fence.code}) and must be stored first: send this one again after it`, {
      details: { topic, partition, producerId, refusedSequence: fence.sequence },
    })
  }

  /** A batch was refused retriably: hold back what follows it. */
  refused(producerId: number, sequence: number, topic: string, partition: number, err: SkiffError, now: number): void {
    if (!err.retriable) return
    const key = keyOf(producerId, topic, partition)
    const had = this.fences.get(key)
    this.fences.delete(key) // re-inserted last: the Map's order is the eviction order
    this.fences.set(key, { sequence: had && now < had.until ? Math.min(had.sequence, sequence) : sequence, code: err.code, until: now + FENCE_MS })
    if (this.fences.size > MAX_FENCES) this.fences.delete(this.fences.keys().next().value!)
  }

  get size(): number {
    return this.fences.size
  }
}

function keyOf(producerId: number, topic: string, partition: number): string {
  return `${producerId}/${partition}/${topic}`
}
