/**
 * What crosses between the gateway and the partition workers. Each direction
 * sends at most one message per event-loop turn per worker: an array of ops,
 * packed into one ArrayBuffer that is transferred, not cloned (cloning a
 * Buffer view would copy its whole backing store). The hot ops (pub, settle,
 * out, done with a number or nothing) have a binary layout of their own, the
 * rest is MessagePack: see thread-codec.ts.
 *
 * Each op's fields are declared once more, in OP_FIELDS below, as data the
 * codec reads: the declaration is checked against these types both ways (a
 * field added to a type and not declared, or declared and not in the type,
 * does not compile), and the codec refuses an op carrying a field that is not
 * declared for it.
 */
import type { AckKind, ResetTarget, StartPosition } from '../protocol/index.js'
import type { ErrorName } from '../protocol/errors.js'
import type { GaugeSnapshot, MetricDeltas } from './observability/worker-metrics.js'
import type { PartitionLogStats } from './storage/log-types.js'
import type { GroupRecovery } from './worker/group-cursor.js'
import type { ResetOutcome } from './worker/partition-admin.js'
import type { FetchPartition } from '../protocol/frames/replication.js'
import type { FetchAnswer } from './worker/replication.js'
import type { FollowedLeader } from './worker/leader-fetchers.js'
import type { FollowerPosition } from './worker/replica-fetcher.js'

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
      /** This worker's share of the subscription's credits (subscribe.ts workerShares). */
      maxInFlight: number
      /**
       * The subscription's credit pool: unique per SUBSCRIBE. Its members on this worker's
       * partitions are one member object, so they share maxInFlight (partition.ts subscribe).
       */
      creditPool: number
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
  /** New retention for a partition if it is open here (an unopened one reads topic.json when it opens). */
  | { t: 'reconfigure'; id: number; config: TopicConfig; partition: number }
  | { t: 'stop'; id: number }
  /**
   * Cluster mode: the replication role of a partition this broker holds a
   * copy of (worker/replica.ts), as etcd has it: `isr` the brokers whose
   * acknowledgements count (etcd's set plus additions in flight). 'none': no
   * longer replicated here.
   */
  | { t: 'role'; config: TopicConfig; partition: number; self: number; role: string; epoch: number; isr: number[]; minInSync: number }
  /** Leader: a follower's fetch of partitions of this worker (REPL_FETCH), held up to maxWaitMs while nothing is new. Answered with FetchAnswer[]. */
  | { t: 'replFetch'; id: number; session: number; follower: number; maxWaitMs: number; maxBytes: number; fetch: FetchPartition[] }
  /** Answer the held fetch of `session` now (another worker had data for it). */
  | { t: 'replWake'; session: number }
  /** Follower: the leader's answer for one partition; answered after the sync with { endOffset, lastEpoch }. */
  | { t: 'replAppend'; id: number; topic: string; partition: number; epoch: number; hw: number; logStart: number; batches: Uint8Array; diverging: { epoch: number; endOffset: number } | undefined; groups: Uint8Array }
  /** Leader: before the gateway writes `follower` into the in-sync set: is its acknowledgement at the high watermark? */
  | { t: 'isrCheck'; id: number; topic: string; partition: number; follower: number }
  /**
   * Follower: the leaders this broker follows this worker's partitions at,
   * and those partitions with their epochs: the whole set, replacing the
   * last one (worker/leader-fetchers.ts). Sent when it changes.
   */
  | { t: 'follow'; self: number; incarnation: string; leaders: FollowedLeader[] }

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
  /** Followed partitions whose copy moved here since the last such op (at most one per turn): for the replication stats. */
  | { t: 'followed'; positions: FollowerPosition[] }

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

/**
 * How a field crosses between the threads. The hot ops' binary layout
 * (thread-codec.ts) writes their fields by these kinds; `value` is anything
 * MessagePack carries. A trailing `?` is a field that may be undefined.
 */
export type FieldKind = 'f64' | 'f64?' | 'u32' | 'str' | 'bool' | 'bool?' | 'bin' | 'f64[]' | 'ackKind' | 'value'

/** The kinds a field of type T may be declared as. */
type KindOf<T> = [T] extends [AckKind]
  ? 'ackKind'
  : [T] extends [number]
    ? 'f64' | 'u32'
    : [T] extends [number | undefined]
      ? 'f64?'
      : [T] extends [string]
        ? 'str'
        : [T] extends [boolean]
          ? 'bool'
          : [T] extends [boolean | undefined]
            ? 'bool?'
            : [T] extends [Uint8Array]
              ? 'bin'
              : [T] extends [number[]]
                ? 'f64[]'
                : 'value'

type OpOf<U extends { t: string }, K extends U['t']> = Extract<U, { t: K }>
/** Every op of U with every one of its fields (but `t`) and nothing else, each of a kind its type allows. */
type Declaration<U extends { t: string }> = {
  readonly [K in U['t']]: { readonly [F in Exclude<keyof OpOf<U, K>, 't'>]-?: KindOf<OpOf<U, K>[F]> }
}

const TO_WORKER_FIELDS = {
  pub: { id: 'f64', topic: 'str', partition: 'u32', count: 'u32', records: 'bin', confirm: 'bool', producerId: 'f64?', sequence: 'f64?' },
  sub: {
    id: 'f64',
    conn: 'f64',
    sub: 'f64',
    topic: 'str',
    partition: 'u32',
    group: 'str',
    start: 'str',
    startValue: 'f64?',
    maxInFlight: 'f64',
    creditPool: 'f64',
    ackTimeoutMs: 'f64',
    maxDeliveries: 'f64',
    ackNone: 'bool',
    ephemeral: 'bool?',
  },
  unsub: { id: 'f64', conn: 'f64', sub: 'f64', topic: 'str', partition: 'u32', group: 'str' },
  settle: { conn: 'f64', sub: 'f64', topic: 'str', partition: 'u32', group: 'str', kind: 'ackKind', ranges: 'f64[]', delayMs: 'f64' },
  gone: { conn: 'f64' },
  congested: { conn: 'f64', on: 'bool' },
  describe: { id: 'f64', topic: 'str', partition: 'u32' },
  groups: { id: 'f64', topic: 'str', partition: 'u32' },
  group: { id: 'f64', topic: 'str', partition: 'u32', group: 'str' },
  drop: { id: 'f64', topic: 'str', partition: 'u32' },
  peek: { id: 'f64', topic: 'str', partition: 'u32', offset: 'f64', max: 'f64' },
  groupDelete: { id: 'f64', topic: 'str', partition: 'u32', group: 'str' },
  groupReset: { id: 'f64', topic: 'str', partition: 'u32', group: 'str', to: 'str', value: 'f64?', dryRun: 'bool' },
  purge: { id: 'f64', topic: 'str', partition: 'u32' },
  alter: { id: 'f64', config: 'value', partition: 'u32', groups: 'value' },
  reconfigure: { id: 'f64', config: 'value', partition: 'u32' },
  stop: { id: 'f64' },
  role: { config: 'value', partition: 'u32', self: 'u32', role: 'str', epoch: 'f64', isr: 'f64[]', minInSync: 'u32' },
  replFetch: { id: 'f64', session: 'f64', follower: 'u32', maxWaitMs: 'f64', maxBytes: 'f64', fetch: 'value' },
  replWake: { session: 'f64' },
  replAppend: { id: 'f64', topic: 'str', partition: 'u32', epoch: 'f64', hw: 'f64', logStart: 'f64', batches: 'bin', diverging: 'value', groups: 'bin' },
  isrCheck: { id: 'f64', topic: 'str', partition: 'u32', follower: 'u32' },
  follow: { self: 'u32', incarnation: 'str', leaders: 'value' },
} as const satisfies Declaration<ToWorker>

const FROM_WORKER_FIELDS = {
  done: { id: 'f64', result: 'value' },
  fail: { id: 'f64', code: 'str', message: 'str' },
  out: { conn: 'f64', bytes: 'bin' },
  topic: { config: 'value' },
  log: { event: 'value' },
  metrics: { deltas: 'value' },
  gauges: { gauges: 'value' },
  followed: { positions: 'value' },
} as const satisfies Declaration<FromWorker>

/** Every op's fields, by op name: the one list the codec and its tests read. */
export const OP_FIELDS: { readonly [K in Op['t']]: Readonly<Record<string, FieldKind>> } = { ...TO_WORKER_FIELDS, ...FROM_WORKER_FIELDS }

/** Any op, either direction. */
export type Op = ToWorker | FromWorker

/** What the describe op answers: the partition and its log's figures. */
export type PartitionDescription = { partition: number } & PartitionLogStats

/** What the group op answers for a group with state on the partition. */
export interface GroupPosition {
  partition: number
  committed: number
  next: number
  endOffset: number
  lag: number
  inFlight: number
  members: number
  /** What recovery did to the group at open, when anything. */
  recovery?: GroupRecovery
}

/** A request: an op the worker answers with `done` (or `fail`). */
export type RequestOp = Extract<ToWorker, { id: number }>

/** What the worker's `done` carries for each request. */
export interface Results {
  /** The batch's base offset when confirmed, null when not asked to confirm. */
  pub: number | null
  sub: null
  unsub: null
  describe: PartitionDescription
  groups: string[]
  group: GroupPosition | null
  drop: null
  peek: PeekedRecord[]
  /** True when the group had state on this partition. */
  groupDelete: boolean
  /** Null when the group has no state here. */
  groupReset: ResetOutcome | null
  purge: { partition: number; startOffset: number; purged: number }
  alter: null
  reconfigure: null
  stop: null
  replFetch: FetchAnswer[]
  replAppend: { endOffset: number; lastEpoch: number; startOffset: number }
  isrCheck: boolean
}
// Results answers every request and nothing else (a compile error names the odd one out).
const resultsCoverRequests: Record<Exclude<RequestOp['t'], keyof Results> | Exclude<keyof Results, RequestOp['t']>, never> = {}
void resultsCoverRequests

export type ResultOf<K extends RequestOp['t']> = Results[K]

/** What one request answers: as Results says, and a pub sent with `confirm: true` a number (its base offset). */
export type ResultFor<R extends { t: RequestOp['t'] }> = R extends { t: 'pub'; confirm: true } ? number : Results[R['t']]
