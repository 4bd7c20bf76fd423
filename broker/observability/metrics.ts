/**
 * The broker's Prometheus registry, owned by the gateway (main thread).
 *
 * How numbers get here:
 * - Gateway events (bytes, connections, protocol errors, publish confirm
 *   latency, UDP datagrams) are counted on the main thread directly; the
 *   per-chunk byte counts are plain additions folded into the counters at
 *   scrape time.
 * - Worker events arrive as `metrics` ops (counts since the worker's previous
 *   op, at most one op per worker turn, riding the turn's one message) and are
 *   added here, so the totals are exact sums over all workers.
 * - Worker gauges arrive as `gauges` snapshots (one per worker per second);
 *   the latest snapshot of each worker is kept and summed at scrape time.
 * Topic and group labels pass through LabelBudgets (see labels.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import { LabelBudget, OTHER } from './labels.js'
import type { GaugeSnapshot, MetricDeltas } from './worker-metrics.js'
import type { LoginStats } from '../auth/authenticator.js'
import type { ClusterStatus } from './broker-view.js'
import type { FollowerLag, ReplicationStats } from '../cluster/replication-stats.js'

/** Why a UDP datagram was accepted or dropped (the `result` label). */
export const UDP_RESULTS = [
  'accepted',
  'garbage',
  'truncated',
  'malformed',
  'oversize',
  'unauthorized',
  'forbidden',
  'bad_topic',
  'unknown_topic',
  'not_leader',
  'overloaded',
  'shutting_down',
  'failed',
] as const
export type UdpResult = (typeof UDP_RESULTS)[number]

/** The gateway's broker-wide budget use (gateway/budgets.ts), read for the skiff_gateway_* gauges. */
export interface BudgetTotals {
  pendingOutputBytes: number
  partialFrameBytes: number
  unconfirmedPublishBytes: number
}

export interface MetricsOptions {
  maxMetricTopics: number
  maxMetricGroups: number
  warn(fields: Record<string, unknown>, msg: string): void
}

let processRegistry: Registry | undefined

/**
 * prom-client's default process and Node.js metrics, collected once per
 * process (they describe the process, and each collection installs observers
 * that live as long as it does), shared by every broker the process runs.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export class BrokerMetrics {
  readonly registry = new Registry()
  readonly topics: LabelBudget
  readonly groups: LabelBudget

  /** Bytes read from and written to client sockets, not yet folded into the counters. */
  bytesReceived = 0
  bytesSent = 0
  /** Where the connection count comes from (the gateway's table, once it exists). */
  connectionCount: () => number = () => 0
  /** Where login counts come from (the authenticator, once the gateway is up). */
  loginStats: () => LoginStats | undefined = () => undefined
  /** This broker in its cluster (undefined for a single broker), read at scrape time. */
  clusterStatus: () => ClusterStatus | undefined = () => undefined
  /** Its replication counters and replicas (undefined for a single broker), read at scrape time. */
  replication: () => ReplicationStats | undefined = () => undefined
  /** The gateway's broker-wide budgets (gateway/budgets.ts), once it exists. */
  gatewayBudgets: () => BudgetTotals = () => ({ pendingOutputBytes: 0, partialFrameBytes: 0, unconfirmedPublishBytes: 0 })

  private readonly published: Counter<'topic'>
  private readonly delivered: Counter<'topic' | 'group'>
  private readonly acked: Counter<'topic' | 'group'>
  private readonly redelivered: Counter<'topic' | 'group'>
  private readonly deadLettered: Counter<'topic' | 'group'>
  private readonly fsyncSeconds: Histogram
  private readonly confirmSeconds: Histogram
  private readonly udp: Counter<'result'>
  private readonly protocolErrors: Counter<'code'>
  /** What partition recovery found at open: segments scanned, torn batches, corrupt batches, groups clamped, groups reset (the order of RecoveryRow). */
  private readonly recovery: Counter<'topic'>[]
  private readonly snapshots = new Map<number, GaugeSnapshot>()

  constructor(opts: MetricsOptions) {
    this.topics = new LabelBudget('topic', opts.maxMetricTopics, opts.warn)
    this.groups = new LabelBudget('group', opts.maxMetricGroups, opts.warn)
    const registers = [this.registry]
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter<L>({ name, help, labelNames, registers })

    this.published = counter('skiff_messages_published_total', 'Records appended to a topic (client publishes, UDP telemetry, and dead letters for .dlq topics)', ['topic'])
    this.delivered = counter('skiff_messages_delivered_total', 'Deliveries to consumer groups, redeliveries included', ['topic', 'group'])
    this.acked = counter('skiff_messages_acked_total', 'Deliveries acknowledged', ['topic', 'group'])
    this.redelivered = counter('skiff_messages_redelivered_total', 'Deliveries of a message delivered before (nack, ack timeout, consumer gone)', ['topic', 'group'])
    this.deadLettered = counter('skiff_messages_dead_lettered_total', 'Messages a group gave up on, appended to <topic>.dlq', ['topic', 'group'])
    this.udp = counter('skiff_udp_datagrams_total', 'UDP telemetry datagrams by outcome: accepted, or the reason they were dropped', ['result'])
    for (const result of UDP_RESULTS) this.udp.inc({ result }, 0)
    this.protocolErrors = counter('skiff_protocol_errors_total', 'ERROR frames sent to clients, by error code name', ['code'])
    // In RecoveryRow's order (worker-metrics.ts).
    this.recovery = [
      counter('skiff_recovery_segments_scanned_total', 'Segment files read by recovery when a partition log was opened', ['topic']),
      counter('skiff_recovery_torn_batches_total', 'Batches cut from the end of a partition log as torn writes when it was opened', ['topic']),
      counter('skiff_recovery_corrupt_batches_total', 'Damaged batches found and reported (skipped) when a partition log was opened', ['topic']),
      counter('skiff_recovery_groups_clamped_total', 'Consumer groups whose saved position lay beyond the recovered end of the log, clamped to it when the partition was opened', ['topic']),
      counter('skiff_recovery_groups_reset_total', 'Consumer groups whose saved state was lost (files missing or unreadable), restarted at the earliest retained offset', ['topic']),
    ]

    const self = this
    new Counter({
      name: 'skiff_bytes_received_total',
      help: 'Bytes read from client connections',
      registers,
      collect() {
        this.inc(self.bytesReceived)
        self.bytesReceived = 0
      },
    })
    new Counter({
      name: 'skiff_bytes_sent_total',
      help: 'Bytes written to client connections',
      registers,
      collect() {
        this.inc(self.bytesSent)
        self.bytesSent = 0
      },
    })
    // Cluster gauges: absent (no sample) on a single broker.
    const cluster = (name: string, help: string, value: (s: ClusterStatus) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.reset()
          const s = self.clusterStatus()
          if (s) this.set(value(s))
        },
      })
    cluster('skiff_cluster_registered', "1 while this broker's registration in etcd holds, else 0", (s) => (s.registered ? 1 : 0))
    cluster('skiff_cluster_brokers', 'Live brokers in the cluster, as this broker sees it', (s) => s.brokers.length)
    cluster('skiff_cluster_partitions_led', 'Partitions this broker leads', (s) => s.leading)
    cluster('skiff_cluster_partitions_unavailable', 'Partitions of the cluster without a live leader', (s) => s.unavailable)
    cluster(
      'skiff_cluster_under_replicated_partitions',
      'Partitions of the cluster with a live leader and fewer live, in-sync copies than replicas (skiff cluster status says why)',
      (s) => s.underReplicatedCount,
    )
    cluster('skiff_cluster_partitions_moving', 'Partitions of the cluster moving to other brokers (skiff topics alter --move), until each move ends', (s) => s.moving)
    // Totals kept by the replication code (cluster/replication-stats.ts), copied at scrape time.
    const replicationCounter = (name: string, help: string, read: (r: ReplicationStats) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset()
          const r = self.replication()
          if (r) this.inc(read(r))
        },
      })
    replicationCounter('skiff_cluster_elections_total', 'Elections this broker won: it became the leader of a partition in a new epoch', (r) => r.elections)
    replicationCounter('skiff_cluster_isr_shrinks_total', 'In-sync set shrinks this broker wrote as leader (a follower taken out)', (r) => r.isrShrinks)
    replicationCounter('skiff_cluster_isr_expands_total', 'In-sync set expands this broker wrote as leader (a caught-up follower taken back in)', (r) => r.isrExpands)
    replicationCounter('skiff_cluster_leader_handovers_total', 'Partitions whose leadership this broker handed over before it stopped (SIGTERM)', (r) => r.handovers)
    replicationCounter('skiff_cluster_partition_moves_total', 'Partition moves this broker finished as their leader', (r) => r.moves)
    // Per partition led here, per follower: topics pass the topic label budget like every per-topic metric.
    const replicaGauge = (name: string, help: string, labelNames: ('topic' | 'partition' | 'follower')[], fold: (into: Map<string, ReplicaSample>) => void) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset()
          const samples = new Map<string, ReplicaSample>()
          fold(samples)
          for (const { labels, v } of samples.values()) this.set(labels, v)
        },
      })
    const cardinality = 'One series per partition led here (and per follower); topics beyond --max-metric-topics are folded into topic="_other", partition="_other"'
    replicaGauge('skiff_replica_follower_lag_records', `Records a follower's last fetch was behind the leader's end, per partition led here (folded: summed). ${cardinality}`, ['topic', 'partition', 'follower'], (into) =>
      this.foldFollowers(into, (f) => f.records, (a, b) => a + b),
    )
    replicaGauge('skiff_replica_follower_lag_seconds', `Seconds since a follower was last caught up with the leader's end, per partition led here (0 while it is; folded: the largest). ${cardinality}`, ['topic', 'partition', 'follower'], (into) =>
      this.foldFollowers(into, (f) => f.ms / 1000, Math.max),
    )
    replicaGauge('skiff_replica_high_watermark', `High watermark (offsets below it are confirmed on every in-sync replica) of each partition led here (folded: summed). ${cardinality}`, ['topic', 'partition'], (into) => {
      for (const r of self.replication()?.replicas.values() ?? []) {
        if (r.role !== 'leader') continue
        const labels = this.partitionLabels(r.topic, r.partition)
        fold(into, `${labels.topic}\u0000${labels.partition}`, labels, r.hw, (a, b) => a + b)
      }
    })
    new Gauge({
      name: 'skiff_connections',
      help: 'Open client connections (including ones still in the handshake)',
      registers,
      collect() {
        this.set(self.connectionCount())
      },
    })
    // Totals kept by the authenticator, copied at scrape time (reset + inc sets a counter to a total).
    new Counter({
      name: 'skiff_logins_total',
      help: 'Logins (HELLO and the HTTP panel) by result: accepted, unauthorized, or limited (refused by a per-address or broker-wide login limit)',
      labelNames: ['result'],
      registers,
      collect() {
        const s = self.loginStats()
        this.reset()
        for (const result of ['accepted', 'unauthorized', 'limited'] as const) this.inc({ result }, s?.[result] ?? 0)
      },
    })
    new Counter({
      name: 'skiff_login_hash_checks_total',
      help: 'scrypt token checks by outcome: run, or dropped unrun because the client went away while it waited',
      labelNames: ['outcome'],
      registers,
      collect() {
        const s = self.loginStats()
        this.reset()
        this.inc({ outcome: 'run' }, s?.hashChecks ?? 0)
        this.inc({ outcome: 'dropped' }, s?.hashChecksDropped ?? 0)
      },
    })
    const budgetGauge = (name: string, help: string, read: (b: BudgetTotals) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(self.gatewayBudgets()))
        },
      })
    budgetGauge('skiff_gateway_pending_output_bytes', 'Bytes written to client sockets and not yet sent, all connections (budget: maxTotalPendingBytes)', (b) => b.pendingOutputBytes)
    budgetGauge('skiff_gateway_partial_frame_bytes', 'Bytes held for partly received frames, all connections (budget: maxTotalPartialFrameBytes)', (b) => b.partialFrameBytes)
    budgetGauge('skiff_gateway_unconfirmed_publish_bytes', 'Bytes of publishes handed to the partition workers and not yet confirmed, all connections (budget: maxTotalPublishBytes)', (b) => b.unconfirmedPublishBytes)
    new Gauge({
      name: 'skiff_consumer_lag',
      help: 'Records of the partition not yet acknowledged by the group',
      labelNames: ['topic', 'group', 'partition'],
      registers,
      collect() {
        this.reset()
        for (const [labels, v] of self.foldedLag()) this.set(labels, v)
      },
    })
    new Gauge({
      name: 'skiff_log_corrupt_offsets',
      help: 'Offsets of a partition hidden by damaged batches found so far (skipped, reported by topics describe)',
      labelNames: ['topic', 'partition'],
      registers,
      collect() {
        this.reset()
        for (const [labels, v] of self.foldedLogBytes(3)) this.set(labels, v)
      },
    })
    new Gauge({
      name: 'skiff_log_bytes',
      help: 'Bytes of a partition log on disk',
      labelNames: ['topic', 'partition'],
      registers,
      collect() {
        this.reset()
        for (const [labels, v] of self.foldedLogBytes()) this.set(labels, v)
      },
    })
    new Gauge({
      name: 'skiff_worker_event_loop_utilization',
      help: 'Share of time each partition worker spent busy over its last sampling second (0-1)',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset()
        for (const s of self.snapshots.values()) this.set({ worker: String(s.worker) }, s.elu)
      },
    })
    this.fsyncSeconds = new Histogram({
      name: 'skiff_fsync_duration_seconds',
      help: 'Time one log fsync took (one fsync covers every append of a partition in a worker turn)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    this.confirmSeconds = new Histogram({
      name: 'skiff_publish_confirm_seconds',
      help: 'From a PUBLISH frame received to its PUBLISH_ACK sent (publishes with confirm)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    // getMetricsAsArray() returns the metric objects themselves (typed loosely).
    for (const m of processMetrics().getMetricsAsArray()) this.registry.registerMetric(m as unknown as Metric)
  }

  /** Counts from a worker (one `metrics` op). */
  applyDeltas(d: MetricDeltas): void {
    for (const [topic, group, published, delivered, acked, redelivered, dead] of d.counts) {
      const t = this.topics.label(topic)
      if (published > 0) this.published.inc({ topic: t }, published)
      if (group === '') continue
      const labels = { topic: t, group: this.groups.label(group) }
      if (delivered > 0) this.delivered.inc(labels, delivered)
      if (acked > 0) this.acked.inc(labels, acked)
      if (redelivered > 0) this.redelivered.inc(labels, redelivered)
      if (dead > 0) this.deadLettered.inc(labels, dead)
    }
    for (const s of d.fsync) this.fsyncSeconds.observe(s)
    // Every recovered partition's topic gets its series, zeros included: an alert on increase() sees the first one.
    for (const [topic, ...found] of d.recovery ?? []) {
      const labels = { topic: this.topics.label(topic) }
      for (let i = 0; i < this.recovery.length; i++) this.recovery[i]!.inc(labels, found[i]!)
    }
  }

  /** A worker's gauges (one `gauges` op), replacing its previous sample. */
  applyGauges(g: GaugeSnapshot): void {
    this.snapshots.set(g.worker, g)
  }

  protocolError(code: string): void {
    this.protocolErrors.inc({ code })
  }

  publishConfirmed(seconds: number): void {
    this.confirmSeconds.observe(seconds)
  }

  udpDatagram(result: UdpResult): void {
    this.udp.inc({ result })
  }

  /** The Prometheus text exposition of everything above plus the process metrics. */
  scrape(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** A partition's labels under the topic budget: a folded topic folds its partitions too. */
  private partitionLabels(topic: string, partition: number): { topic: string; partition: string } {
    const t = this.topics.label(topic)
    return { topic: t, partition: t === OTHER ? OTHER : String(partition) }
  }

  /** One sample per follower of each partition led here, folded by `combine` where topics share a label. */
  private foldFollowers(into: Map<string, ReplicaSample>, value: (f: FollowerLag) => number, combine: (a: number, b: number) => number): void {
    for (const r of this.replication()?.replicas.values() ?? []) {
      if (r.role !== 'leader') continue
      const labels = this.partitionLabels(r.topic, r.partition)
      for (const f of r.followers) {
        const follower = String(f.broker)
        fold(into, `${labels.topic}\u0000${labels.partition}\u0000${follower}`, { ...labels, follower }, value(f), combine)
      }
    }
  }

  private foldedLag(): Map<{ topic: string; group: string; partition: string }, number> {
    const sums = new Map<string, { labels: { topic: string; group: string; partition: string }; v: number }>()
    for (const s of this.snapshots.values()) {
      for (const [topic, group, partition, lag] of s.lag) {
        const t = this.topics.label(topic)
        const labels = { topic: t, group: this.groups.label(group), partition: t === OTHER ? OTHER : String(partition) }
        add(sums, `${labels.topic}\u0000${labels.group}\u0000${labels.partition}`, labels, lag)
      }
    }
    return new Map([...sums.values()].map((e) => [e.labels, e.v]))
  }

  /** Per-partition log gauges summed over workers: column 2 is bytes, column 3 damaged offsets. */
  private foldedLogBytes(column: 2 | 3 = 2): Map<{ topic: string; partition: string }, number> {
    const sums = new Map<string, { labels: { topic: string; partition: string }; v: number }>()
    for (const s of this.snapshots.values()) {
      for (const row of s.logBytes) {
        const [topic, partition] = row
        const t = this.topics.label(topic)
        const labels = { topic: t, partition: t === OTHER ? OTHER : String(partition) }
        add(sums, `${labels.topic}\u0000${labels.partition}`, labels, row[column])
      }
    }
    return new Map([...sums.values()].map((e) => [e.labels, e.v]))
  }
}

type ReplicaSample = { labels: Partial<Record<'topic' | 'partition' | 'follower', string>>; v: number }

function fold(into: Map<string, ReplicaSample>, key: string, labels: ReplicaSample['labels'], v: number, combine: (a: number, b: number) => number): void {
  const e = into.get(key)
  if (e) e.v = combine(e.v, v)
  else into.set(key, { labels, v })
}

function add<L>(sums: Map<string, { labels: L; v: number }>, key: string, labels: L, v: number): void {
  const e = sums.get(key)
  if (e) e.v += v
  else sums.set(key, { labels, v })
}
