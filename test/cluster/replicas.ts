/**
 * Every replica of a topic's partitions, read straight from the brokers'
 * data directories once the brokers are stopped, and compared.
 *
 * Reading: each partition directory (<dataDir>/topics/<topic>/<p>) is copied
 * to a scratch directory and opened there with the broker's own storage code
 * (PartitionLog), so the check sees exactly what a restarted broker would
 * (a torn tail cut, damage skipped) without changing the data directory it
 * inspects. Each record keeps its offset, its `msg-id` header and a digest of
 * its bytes.
 *
 * Comparing: only the brokers METADATA names as a partition's replicas hold
 * a replica of it; a directory of that partition on another broker (a broker
 * may open a partition it does not host) is counted apart, when it holds
 * records. Per partition, the reference is the replica on the broker that
 * led it last (else the longest). Every other replica is compared with it
 * offset by offset over the range both hold: an offset present in one and
 * not the other, or with different bytes, is a divergence. Replicas shorter
 * or longer than the reference are reported apart, as a count of records:
 * a replica out of the in-sync set may be behind; a divergence below both
 * ends is never right.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PartitionLog } from '../../broker/storage/partition-log.js'
import { partitionDir } from '../../broker/topic-store.js'
import { decodeRecord } from '../../protocol/records.js'
import type { Finding, Stored } from './checker.js'
import { ID_HEADER } from './read-back.js'

export interface ReplicaRecord {
  offset: number
  id: string
  /** First 12 bytes of the record's SHA-1, base64: equal bytes, equal digest. */
  digest: string
}

export interface Replica {
  broker: number
  partition: number
  startOffset: number
  endOffset: number
  /** Offsets recovery reported damaged (skipped on read). */
  corruptOffsets: number
  records: ReplicaRecord[]
}

export interface Divergence {
  partition: number
  offset: number
  /** [reference broker, other broker] */
  brokers: [number, number]
  /** The ids at that offset, or null where the replica has none. */
  ids: [string | null, string | null]
}

export interface LengthGap {
  partition: number
  broker: number
  reference: number
  /** Records the replica has past the reference's end (>0) or lacks before it (<0). */
  records: number
}

export interface ReplicaReport {
  partitions: number
  replicas: number
  /** Offsets whose bytes differ, or that one replica of a pair lacks, below both ends. */
  divergent: Finding<Divergence>
  /** Replicas longer or shorter than the reference (informational). */
  lengthGaps: LengthGap[]
  /** Partition directories with records on brokers that are not among the partition's replicas. */
  strays: { partition: number; broker: number; records: number }[]
  /** The reference replica of each partition, as the checker's read-back. */
  stored: Stored[]
  /** Which broker's replica is the reference, per partition. */
  reference: Map<number, number>
}

const READ_RECORDS = 2000
const READ_BYTES = 4 << 20

/** Every replica of `topic`'s partitions 0..partitions-1 that exists in these data directories. */
export function readReplicas(brokers: { id: number; dataDir: string }[], topic: string, partitions: number): Replica[] {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-replicas-'))
  const out: Replica[] = []
  try {
    for (const b of brokers) {
      for (let p = 0; p < partitions; p++) {
        const dir = partitionDir(b.dataDir, topic, p)
        if (!fs.existsSync(dir)) continue
        const copy = path.join(scratch, `${b.id}-${p}`)
        // Group state and other files come along; only the log is read.
        fs.cpSync(dir, copy, { recursive: true })
        out.push(readOne(b.id, p, copy))
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
  return out
}

function readOne(broker: number, partition: number, dir: string): Replica {
  const log = PartitionLog.open({ dir, segmentBytes: 0, retentionMs: 0, retentionBytes: 0, cacheBytes: 0 })
  try {
    const records: ReplicaRecord[] = []
    let from = log.startOffset
    for (;;) {
      const batch = log.read(from, READ_RECORDS, READ_BYTES)
      if (batch.length === 0) break
      for (const r of batch) {
        const headers = decodeRecord(r.record).headers
        records.push({ offset: r.offset, id: headers[ID_HEADER] ?? `?${partition}:${r.offset}`, digest: createHash('sha1').update(r.record).digest('base64').slice(0, 16) })
      }
      from = batch[batch.length - 1]!.offset + 1
    }
    const stats = log.stats()
    return {
      broker,
      partition,
      startOffset: stats.startOffset,
      endOffset: stats.endOffset,
      corruptOffsets: stats.corrupt.reduce((n, c) => n + (c.toOffset - c.fromOffset), 0),
      records,
    }
  } finally {
    log.close()
  }
}

/** Compare the replicas of each partition with its reference; `placement` names the last leader and the replicas of each. */
export function compareReplicas(found: Replica[], placement: Map<number, { leader: number; replicas: number[] }>, examples = 5): ReplicaReport {
  const byPartition = new Map<number, Replica[]>()
  const strays: ReplicaReport['strays'] = []
  const replicas = found.filter((r) => {
    const placed = placement.get(r.partition)
    if (!placed || placed.replicas.includes(r.broker)) return true
    if (r.records.length > 0) strays.push({ partition: r.partition, broker: r.broker, records: r.records.length })
    return false
  })
  for (const r of replicas) {
    const list = byPartition.get(r.partition) ?? []
    list.push(r)
    byPartition.set(r.partition, list)
  }
  const divergent: Finding<Divergence> = { count: 0, examples: [] }
  const lengthGaps: LengthGap[] = []
  const stored: Stored[] = []
  const reference = new Map<number, number>()
  for (const [partition, list] of [...byPartition].sort((a, b) => a[0] - b[0])) {
    const ref = list.find((r) => r.broker === placement.get(partition)?.leader) ?? [...list].sort((a, b) => b.endOffset - a.endOffset)[0]!
    reference.set(partition, ref.broker)
    for (const r of ref.records) stored.push({ partition, offset: r.offset, id: r.id })
    const refAt = new Map(ref.records.map((r) => [r.offset, r]))
    for (const other of list) {
      if (other === ref) continue
      const otherAt = new Map(other.records.map((r) => [r.offset, r]))
      const from = Math.max(ref.startOffset, other.startOffset)
      const to = Math.min(ref.endOffset, other.endOffset)
      for (let o = from; o < to; o++) {
        const a = refAt.get(o)
        const b = otherAt.get(o)
        if (a?.digest === b?.digest) continue
        if (divergent.count++ < examples) divergent.examples.push({ partition, offset: o, brokers: [ref.broker, other.broker], ids: [a?.id ?? null, b?.id ?? null] })
      }
      if (other.endOffset !== ref.endOffset) lengthGaps.push({ partition, broker: other.broker, reference: ref.broker, records: other.endOffset - ref.endOffset })
    }
  }
  return { partitions: byPartition.size, replicas: replicas.length, divergent, lengthGaps, strays, stored, reference }
}
