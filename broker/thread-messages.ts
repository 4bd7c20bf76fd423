/**
 * What crosses between the gateway and the partition workers. Each direction
 * sends at most one message per event-loop turn per worker: an array of ops,
 * packed into one ArrayBuffer that is transferred, not cloned (cloning a
 * Buffer view would copy its whole backing store). The hot ops (pub, settle,
 * out, done with a number or nothing) have a binary layout of their own, the
 * rest is MessagePack: see thread-codec.ts.
 */
import { readOps, writeOps } from './thread-codec.js'
import type { AckKind, ResetTarget, StartPosition } from '../protocol/index.js'
import type { ErrorName } from '../protocol/errors.js'
import type { GaugeSnapshot, MetricDeltas } from './observability/worker-metrics.js'

export interface TopicConfig {
  topic: string
  partitions: number
  retentionMs: number
  retentionBytes: number
  segmentBytes: number
  createdAt: number
}

/** Gateway -> worker. `id` is a reply token: the worker answers with `done` or `fail`. */
export type ToWorker =
  | {
      t: 'pub'
      id: number
      topic: string
      partition: number
      count: number
      records: Uint8Array
      confirm: boolean
      /** Idempotent producer: the batch's producer id and sequence (absent otherwise). */
      producerId?: number | undefined
      sequence?: number | undefined
    }
  | {
      t: 'sub'
      id: number
      conn: number
      sub: number
      topic: string
      partition: number
      group: string
      start: StartPosition
      startValue: number | undefined
      maxInFlight: number
      ackTimeoutMs: number
      maxDeliveries: number
      /** ack "none": settled when sent; the member's acks only return credits. */
      ackNone: boolean
      /** An ephemeral subscription: `group` is its own, kept in memory only and removed when it ends. */
      ephemeral?: boolean | undefined
    }
  | { t: 'unsub'; id: number; conn: number; sub: number; topic: string; partition: number; group: string }
  /** `ranges`: [firstOffset, count] pairs, as ACK frames carry them (consecutive offsets merged). */
  | { t: 'settle'; conn: number; sub: number; topic: string; partition: number; group: string; kind: AckKind; ranges: number[]; delayMs: number }
  | { t: 'gone'; conn: number }
  /** The connection's socket is backed up (`on`), or drained again: its members take no deliveries meanwhile. */
  | { t: 'congested'; conn: number; on: boolean }
  | { t: 'describe'; id: number; topic: string; partition: number }
  | { t: 'groups'; id: number; topic: string; partition: number }
  | { t: 'group'; id: number; topic: string; partition: number; group: string }
  | { t: 'drop'; id: number; topic: string; partition: number }
  /** Read up to `max` records from `offset` on, touching no group (the panel's peek): answered with PeekedRecord[]. */
  | { t: 'peek'; id: number; topic: string; partition: number; offset: number; max: number }
  /** GROUP_DELETE: answered with true when the group had state on this partition. */
  | { t: 'groupDelete'; id: number; topic: string; partition: number; group: string }
  /** GROUP_RESET: answered with { partition, from, to }, or null when the group has no state here. */
  | { t: 'groupReset'; id: number; topic: string; partition: number; group: string; to: ResetTarget; value: number | undefined; dryRun: boolean }
  /** TOPIC_PURGE: answered with { partition, startOffset, purged }. */
  | { t: 'purge'; id: number; topic: string; partition: number }
  /**
   * TOPIC_ALTER: the topic's new config (already in topic.json). A partition
   * new to the topic is opened, and `groups` (the topic's groups) start on it
   * at its beginning; an existing one takes the new retention.
   */
  | { t: 'alter'; id: number; config: TopicConfig; partition: number; groups: string[] }
  | { t: 'stop'; id: number }

/** Worker -> gateway. */
export type FromWorker =
  | { t: 'done'; id: number; result: unknown }
  | { t: 'fail'; id: number; code: ErrorName; message: string }
  /** Encoded frames for one connection, ready to be written. */
  | { t: 'out'; conn: number; bytes: Uint8Array }
  /** A topic the worker created (dead-letter topics). */
  | { t: 'topic'; config: TopicConfig }
  | { t: 'log'; event: Record<string, unknown> }
  /** Metric counts since the worker's previous `metrics` op (at most one per worker turn). */
  | { t: 'metrics'; deltas: MetricDeltas }
  /** The worker's gauge sample (once a second), replacing its previous one. */
  | { t: 'gauges'; gauges: GaugeSnapshot }

/** One record as `peek` returns it: the stored record bytes (record encoding, length prefix included). */
export interface PeekedRecord {
  offset: number
  timestamp: number
  record: Uint8Array
}

export interface WorkerData {
  workerId: number
  /** Workers in the pool: with workerId, which partitions this one owns (ownerOf). */
  workers: number
  dataDir: string
  fsync: string
  groupCommitMs: number
  retentionCheckMs: number
  maxFrame: number
}

/** Pack a turn's ops into a fresh ArrayBuffer that can be transferred. */
export function packOps(ops: readonly unknown[]): ArrayBuffer {
  return writeOps(ops)
}

/**
 * The ops of a packed turn. Their byte fields (`pub` records, `out` bytes) are
 * Buffer views of `ab`, not copies: `ab` must not be written to afterwards.
 */
export function unpackOps<T>(ab: ArrayBuffer): T[] {
  return readOps(ab) as T[]
}
