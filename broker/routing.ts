/**
 * Where a record goes: to a partition of its topic, and from there to the
 * worker thread that owns that partition.
 *
 * Splitting a PUBLISH batch by partition. A key picks its partition by FNV-1a
 * hash modulo the partition count (stable across restarts and clients); the
 * records without a key in one batch all go to one partition, chosen
 * round-robin per batch, which keeps batches whole on the hot path.
 * The records blob is validated on the way, headers included, so a worker
 * never stores a record a consumer cannot parse.
 */
import { decodeRecord, keyHash, stringHash, walkRecords, type RecordView } from '../protocol/records.js'
import { originTopicOf } from '../protocol/names.js'

export interface PartitionPart {
  partition: number
  records: Buffer
  count: number
  /** Index in the original batch of each record of this part. */
  indexes: number[] | undefined
}

export function splitByPartition(records: Buffer, count: number, partitions: number, roundRobin: number): PartitionPart[] {
  if (partitions === 1) {
    walkRecords(records, count, (v) => checkHeaders(records, v))
    return [{ partition: 0, records, count, indexes: undefined }]
  }
  const keyless = roundRobin % partitions
  const byPartition = new Map<number, { slices: Buffer[]; indexes: number[] }>()
  walkRecords(records, count, (v, i) => {
    checkHeaders(records, v)
    const p = v.keyEnd > v.keyStart ? keyHash(records.subarray(v.keyStart, v.keyEnd)) % partitions : keyless
    let part = byPartition.get(p)
    if (!part) byPartition.set(p, (part = { slices: [], indexes: [] }))
    part.slices.push(records.subarray(v.start, v.end))
    part.indexes.push(i)
  })
  if (byPartition.size === 1) {
    const [partition] = byPartition.keys()
    return [{ partition: partition!, records, count, indexes: undefined }]
  }
  return [...byPartition].map(([partition, part]) => ({
    partition,
    records: Buffer.concat(part.slices),
    count: part.indexes.length,
    indexes: part.indexes,
  }))
}

/** Headers must be a MessagePack map of strings; decoding them throws INVALID_REQUEST otherwise. */
function checkHeaders(records: Buffer, v: RecordView): void {
  if (v.headersEnd > v.headersStart) decodeRecord(records, v)
}

/**
 * The worker that owns a partition. A dead-letter topic's partition hashes as
 * its origin's, so dead-lettering is an append by the same thread, never a hop.
 */
export function ownerOf(topic: string, partition: number, workers: number): number {
  return stringHash(`${originTopicOf(topic)}/${partition}`) % workers
}

/** Every partition of a topic of `partitions`: 0 to partitions - 1. */
export function partitionNumbers(partitions: number): number[] {
  return Array.from({ length: partitions }, (_, p) => p)
}
