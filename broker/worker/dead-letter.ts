/**
 * Dead-lettering: the original record with headers naming where it came
 * from and why, appended to `<topic>.dlq` at the same partition number. The
 * dead-letter topic is created on first use with its origin's partition count,
 * so the same worker owns both (see ownerOf) and this is a local append.
 */
import { decodeRecord, encodeRecord, type DecodedRecord } from '../../protocol/records.js'
import { deadLetterTopicOf } from '../../protocol/index.js'
import { storageError } from '../storage/storage-error.js'
import type { LogRecord } from '../storage/partition-log.js'
import type { TopicConfig } from '../thread-messages.js'
import type { PartitionCounters } from '../observability/worker-metrics.js'
import type { WorkerContext } from './context.js'
import type { GroupCursor } from './group-cursor.js'

/** How long a message whose dead letter could not be written waits before it is tried again. */
const DEAD_LETTER_RETRY_MS = 1000

export type DeadLetterReason = 'max-deliveries' | 'term'

export interface DeadLetterOrigin {
  topic: string
  partition: number
  offset: number
  group: string
  deliveries: number
  reason: DeadLetterReason
}

export function deadLetterRecord(record: Buffer, origin: DeadLetterOrigin): Buffer {
  let r: DecodedRecord
  try {
    r = decodeRecord(record)
  } catch {
    // Records are checked at publish, but a dead letter must never be stuck:
    // keep the whole original record as the payload if it cannot be parsed.
    r = { key: undefined, headers: { 'x-dlq-raw-record': 'true' }, payload: record }
  }
  return encodeRecord({
    key: r.key,
    headers: {
      ...r.headers,
      'x-dlq-topic': origin.topic,
      'x-dlq-partition': String(origin.partition),
      'x-dlq-offset': String(origin.offset),
      'x-dlq-group': origin.group,
      'x-dlq-deliveries': String(origin.deliveries),
      'x-dlq-reason': origin.reason,
    },
    payload: r.payload,
  })
}

/** The partition messages are dead-lettered from (its config changes with TOPIC_ALTER, so it is read at each use). */
export interface DeadLetterSource {
  readonly topic: string
  readonly partition: number
  readonly config: TopicConfig
}

/** Writes one partition's dead letters and settles what was written. */
export class DeadLetterer {
  constructor(
    private readonly from: DeadLetterSource,
    private readonly ctx: WorkerContext,
    private readonly counters: PartitionCounters,
  ) {}

  /**
   * Dead-letter `offset` for `cursor`'s group and settle it. `rec` is the
   * record read from the log; undefined when the log no longer has it
   * (retention, damage), and then it is only settled. When the dead letter
   * cannot be written (a full disk, say) the offset is not settled either: it
   * goes back for redelivery after a pause and is dead-lettered on a later
   * attempt.
   */
  write(cursor: GroupCursor, offset: number, deliveries: number, reason: DeadLetterReason, rec: LogRecord | undefined): void {
    const { topic, partition, config } = this.from
    if (rec) {
      const record = deadLetterRecord(rec.record, { topic, partition, offset, group: cursor.group, deliveries, reason })
      try {
        this.ctx.partition(deadLetterTopicOf(topic), partition, config).append(0, record, 1, false)
      } catch (err) {
        const retryAt = Date.now() + DEAD_LETTER_RETRY_MS
        if (cursor.isHeld(offset)) cursor.release(offset, retryAt)
        else cursor.requeue(offset, retryAt)
        const e = storageError(err)
        this.ctx.outbox.log({ level: 'warn', msg: 'dead letter not written, will retry', topic, partition, offset, group: cursor.group, code: e.codeName, err: e.message })
        return
      }
      this.counters.deadLettered(cursor.label)
      this.ctx.outbox.log({ level: 'info', msg: 'dead-lettered', topic, partition, offset, group: cursor.group, reason, deliveries })
    }
    cursor.settle(offset)
  }
}
