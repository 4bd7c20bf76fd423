/**
 * Dead-letter records: the original record with headers naming where it came
 * from and why, appended to `<topic>.dlq` at the same partition number. The
 * dead-letter topic is created on first use with its origin's partition count,
 * so the same worker owns both (see ownerOf) and this is a local append.
 */
import { decodeRecord, encodeRecord, type DecodedRecord } from '../../protocol/records.js'

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
