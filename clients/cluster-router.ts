/**
 * Routing in a cluster. When the first WELCOME says `clustered: true`, the
 * client keeps the cluster's METADATA here and opens one internal client per
 * broker it needs, at the address that broker advertises. Each of those is
 * an ordinary single-broker Client: it reconnects by itself, re-sends its
 * unconfirmed batches with their producer id and sequence, and subscribes
 * its consumers again, so a broker that restarts is handled by its own link
 * exactly as a lone broker is today. This module only decides which broker
 * a publish or a subscription goes to (cluster-producer.ts,
 * cluster-consumer.ts).
 *
 * Decisions written down here:
 * - The seed connection (the one connect() made) stays open for admin calls,
 *   request/serve and METADATA; publishes and subscriptions never use it.
 *   Its events ('connect', 'disconnect', ...) and `client.status` describe it.
 *   A per-broker link's failures reach the client's 'error' event.
 * - Metadata is fetched whole (every topic this user may describe) and is
 *   refreshed when a producer holds a batch (a refusal, a lost connection,
 *   no route) or waits long for an answer, when any per-broker link is lost,
 *   when a subscription is refused retriably, when a broker says it no
 *   longer leads partitions a subscription there covers (an unsolicited
 *   NOT_LEADER, cluster-consumer.ts), when a link stops answering even a
 *   PING for a second (probeLinks: a paused broker says nothing), and every
 *   metadataRefreshMs (10 s);
 *   concurrent refreshes share one call. It is asked on every open
 *   connection at once (the seed and the per-broker links) and the first
 *   answer is taken, an older revision than the one held being ignored; with
 *   none open, on the seed once it reconnects.
 * - Partitions are replicated: when a leader dies, an in-sync follower
 *   leads its partitions in a new epoch (about the lease TTL, 3 s, later),
 *   and METADATA names it. So routing never waits on a link to a broker that
 *   is down: the producer holds what it cannot send now and sends it to
 *   whoever leads after the next refresh (partition-routes.ts), the consumer
 *   follows the leaders (cluster-consumer.ts). A link to a dead broker keeps
 *   reconnecting by itself at the address it last advertised, and is used
 *   again only once metadata names it leader of something.
 * - Every refresh and every link (re)connecting is told to the producers and
 *   consumers of this client (`producers`, `consumers`).
 * - A link whose first connect fails is dropped and made again on the next
 *   use, so a broker that is down when first needed is retried, with backoff,
 *   by whoever needs it.
 */
import { SkiffError, isSkiffError, keyHash, type ClusterMetadata, type TopicPlacement } from '../protocol/index.js'
import type { Client, ConnectOptions } from './client.js'
import type { MergedConsumer } from './cluster-consumer.js'
import type { BrokerAddress } from './url.js'

/** How long the first METADATA is retried after a retriable refusal. */
const START_RETRY_MS = 10_000
/** Metadata is refreshed at least this often by default (ConnectOptions.metadataRefreshMs). */
export const REFRESH_MS = 10_000
/** A link that answers nothing (not even a PING) for this long has its broker's leadership checked (probeLinks). */
const UNRESPONSIVE_MS = 1000
/** Refreshes asked for within this of the last one share its answer. */
const MIN_REFRESH_GAP_MS = 100

type ClientFactory = (address: BrokerAddress) => Client

interface BrokerLink {
  client: Client | undefined
  starting: Promise<Client> | undefined
}

/** The cluster's metadata and the per-broker links of one client. */
export class ClusterRouter {
  private meta: ClusterMetadata | undefined
  /** Indexes of `meta`, rebuilt with it: the per-record routing looks here. */
  private byTopic = new Map<string, TopicPlacement>()
  private live = new Set<number>()
  private readonly leaderCache = new WeakMap<TopicPlacement, number[]>()
  private readonly addresses = new Map<number, BrokerAddress>()
  private readonly links = new Map<number, BrokerLink>()
  /** Topics METADATA did not know when asked: published to any broker (it creates them) until metadata has them. */
  private readonly absent = new Set<string>()
  /** Topics being asked for, shared by every caller waiting on one. */
  private readonly learning = new Map<string, Promise<void>>()
  private refreshing: Promise<void> | undefined
  private lastRefresh = 0
  private timer: NodeJS.Timeout | undefined
  private probeTimer: NodeJS.Timeout | undefined
  private closed = false
  private rr = 0
  readonly consumers = new Set<MergedConsumer>()
  /** Producers' routes, told when metadata or a link changes. */
  readonly producers = new Set<{ changed(): void }>()

  constructor(
    private readonly seed: Client,
    private readonly opts: ConnectOptions,
    private readonly makeClient: ClientFactory,
    private readonly seedTransport: BrokerAddress['transport'],
  ) {}

  get requestTimeoutMs(): number {
    return this.seed.requestTimeoutMs
  }

  get drainTimeoutMs(): number {
    return this.seed.drainTimeoutMs
  }

  /** The client's 'error' event (when someone listens). */
  report(err: Error): void {
    this.seed.report(err)
  }

  /**
   * The first METADATA, then the periodic refresh. A retriable refusal (a
   * broker shutting down, overloaded, or whose cluster lost its partition's
   * leader) is asked again for up to START_RETRY_MS before connect() fails
   * with it.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + START_RETRY_MS
    for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
      try {
        await this.refresh(true)
        break
      } catch (err) {
        if (!isSkiffError(err) || !err.retriable || Date.now() + delay > deadline) throw err
        await new Promise((r) => setTimeout(r, delay))
      }
    }
    this.timer = setInterval(() => this.refreshSoon(), this.seed.metadataRefreshMs)
    this.timer.unref()
    this.probeTimer = setInterval(() => this.probeLinks(), UNRESPONSIVE_MS / 2)
    this.probeTimer.unref()
  }

  /** Ask METADATA again (shared with a refresh in flight or just made unless `force`). */
  refresh(force = false): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.refreshing) return this.refreshing
    if (!force && Date.now() - this.lastRefresh < MIN_REFRESH_GAP_MS) return Promise.resolve()
    this.refreshing = this.fetch().finally(() => {
      this.refreshing = undefined
      this.lastRefresh = Date.now()
    })
    return this.refreshing
  }

  /** A refresh whose failure is reported, not thrown. */
  refreshSoon(): void {
    this.refresh().catch((err: unknown) => this.seed.report(err as Error))
  }

  /** METADATA of every topic, or of `topics` only (merged into what is known). */
  private async fetch(topics?: string[]): Promise<void> {
    const open = [this.seed, ...[...this.links.values()].map((l) => l.client)].filter((c): c is Client => c?.current?.isOpen === true)
    let meta: ClusterMetadata
    if (open.length > 0) {
      // Asked of every open connection at once, the first answer taken: a broker that is paused
      // keeps its connection open and would hold a refresh for requestTimeoutMs.
      try {
        meta = await Promise.any(open.map((c) => c.admin.metadata(topics)))
      } catch (err) {
        throw (err as AggregateError).errors[0]
      }
    } else {
      // Nothing open: wait for the seed to reconnect (bounded by requestTimeoutMs).
      meta = await this.seed.admin.metadata(topics)
    }
    if (this.meta && meta.revision < this.meta.revision) return // an answer from a broker whose cache lags
    if (topics && this.meta) {
      const named = new Set(meta.topics.map((t) => t.topic))
      meta = { ...meta, topics: [...this.meta.topics.filter((t) => !named.has(t.topic)), ...meta.topics] }
    }
    this.meta = meta
    this.byTopic = new Map(meta.topics.map((t) => [t.topic, t]))
    this.live = new Set(meta.brokers.map((b) => b.id))
    for (const b of meta.brokers) this.addresses.set(b.id, { transport: this.transport(), host: b.host, port: b.port })
    for (const t of meta.topics) this.absent.delete(t.topic)
    this.changed()
  }

  /** Tell consumers and producers that metadata or a link changed. */
  private changed(): void {
    for (const c of this.consumers) c.sync()
    for (const p of this.producers) p.changed()
  }

  /** Brokers are reached as the seed was (skiffs:// stays TLS). */
  private transport(): BrokerAddress['transport'] {
    return this.seed.current?.address.transport ?? this.seedTransport
  }

  /** The placement of `topic` as last seen, if metadata has it. */
  placement(topic: string): TopicPlacement | undefined {
    return this.byTopic.get(topic)
  }

  /** True when `topic` was asked for and is not in metadata (a publish creates it). */
  isAbsent(topic: string): boolean {
    return this.absent.has(topic)
  }

  /**
   * Ask METADATA for `topic` now (not shared with a refresh that may have
   * started before the topic was made), and remember it as absent when
   * metadata does not have it.
   */
  learn(topic: string): Promise<void> {
    let p = this.learning.get(topic)
    if (!p) {
      p = this.fetch([topic])
        .then(() => {
          if (!this.placement(topic)) this.absent.add(topic)
        })
        .finally(() => this.learning.delete(topic))
      this.learning.set(topic, p)
    }
    return p
  }

  /** Is `id` among the live brokers of the last metadata? */
  isLive(id: number): boolean {
    return this.live.has(id)
  }

  /** The brokers leading a partition of the topic (each once, in partition order). */
  leaders(t: TopicPlacement): number[] {
    let ids = this.leaderCache.get(t)
    if (!ids) {
      ids = [...new Set(t.partitions.map((p) => p.leader))]
      this.leaderCache.set(t, ids)
    }
    return ids
  }

  /** The partition a keyed record goes to (the broker's own hash), undefined for a topic without partitions. */
  partitionOfKey(t: TopicPlacement, key: string): number | undefined {
    const n = t.partitions.length
    return n === 0 ? undefined : keyHash(Buffer.from(key, 'utf8')) % n
  }

  /** The leader of `partition` of `t` as last seen. */
  leaderOf(t: TopicPlacement, partition: number): number | undefined {
    const at = t.partitions[partition]
    return at?.partition === partition ? at.leader : t.partitions.find((p) => p.partition === partition)?.leader
  }

  /**
   * The broker a batch goes to: its partition's leader, or for a batch that
   * names no partition (its topic not in metadata yet) any broker, which
   * creates the topic.
   */
  brokerFor(topic: string, partition: number | undefined): number | undefined {
    const t = this.byTopic.get(topic)
    if (partition === undefined) return this.keylessTarget(t)
    return t ? this.leaderOf(t, partition) : undefined
  }

  /**
   * A partition for keyless records, round-robin over the topic's partitions
   * whose leader's link is up, else whose leader is live, else all of them.
   */
  keylessPartition(t: TopicPlacement): number | undefined {
    const n = t.partitions.length
    if (n === 0) return undefined
    const start = (this.rr = (this.rr + 1) % 0x7fffffff)
    for (const level of [2, 1, 0]) {
      for (let i = 0; i < n; i++) {
        const p = t.partitions[(start + i) % n]!
        if (level === 2 && !this.isUp(p.leader)) continue
        if (level === 1 && !this.live.has(p.leader)) continue
        return p.partition
      }
    }
    return undefined
  }

  /**
   * A broker for a keyless record (round-robin): among those leading a
   * partition of the topic, the live ones whose link is up, else the live
   * ones, else any leader whose address is known.
   */
  keylessTarget(t: TopicPlacement | undefined): number | undefined {
    const leaders = t ? this.leaders(t) : [...this.live]
    // Per record, so counted first and picked second rather than filtered into new arrays.
    let up = 0
    let live = 0
    let known = 0
    for (const id of leaders) {
      if (!this.addresses.has(id)) continue
      known++
      if (!this.live.has(id)) continue
      live++
      if (this.isUp(id)) up++
    }
    const level = up > 0 ? 2 : live > 0 ? 1 : known > 0 ? 0 : -1
    if (level < 0) return undefined
    this.rr = (this.rr + 1) % 0x7fffffff
    let pick = this.rr % (level === 2 ? up : level === 1 ? live : known)
    for (const id of leaders) {
      if (!this.addresses.has(id) || (level >= 1 && !this.live.has(id)) || (level === 2 && !this.isUp(id))) continue
      if (pick-- === 0) return id
    }
    return undefined
  }

  /** Known to be down: not in metadata, or its link is made and not connected. */
  isDown(id: number): boolean {
    if (!this.live.has(id)) return true
    const client = this.links.get(id)?.client
    return client !== undefined && client.status !== 'connected'
  }

  /** Broker `id`'s link is made and connected. */
  isUp(id: number): boolean {
    return this.links.get(id)?.client?.status === 'connected'
  }

  /** Start a link to every live broker (for a producer, which will likely need them all). */
  warmUp(): void {
    for (const b of this.meta?.brokers ?? []) this.linkNow(b.id)
  }

  /** The link to broker `id` if it is made (it may be reconnecting); starts making it otherwise. */
  linkNow(id: number): Client | undefined {
    const l = this.links.get(id)
    if (l?.client && !l.client.closed) return l.client
    if (!l?.starting) void this.link(id).catch(() => undefined)
    return undefined
  }

  /** The link to broker `id`, connecting it first if needed. */
  link(id: number): Promise<Client> {
    if (this.closed) return Promise.reject(new SkiffError('CONNECTION_CLOSED', 'the client is closed'))
    const l = this.links.get(id)
    if (l?.client && !l.client.closed) return Promise.resolve(l.client)
    if (l?.starting) return l.starting
    const address = this.addresses.get(id)
    if (!address) return Promise.reject(new SkiffError('PARTITION_UNAVAILABLE', `broker ${id} is not in the cluster's metadata`))
    const entry: BrokerLink = { client: undefined, starting: undefined }
    const client = this.makeClient(address)
    entry.starting = client.start().then(
      () => {
        entry.starting = undefined
        if (this.closed) {
          void client.close()
          throw new SkiffError('CONNECTION_CLOSED', 'the client is closed')
        }
        entry.client = client
        this.watch(id, client)
        // A producer holding batches for this broker sends them now.
        for (const p of this.producers) p.changed()
        return client
      },
      (err: unknown) => {
        if (this.links.get(id) === entry) this.links.delete(id)
        throw err
      },
    )
    this.links.set(id, entry)
    return entry.starting
  }

  private watch(id: number, client: Client): void {
    client.on('disconnect', () => {
      for (const c of this.consumers) c.interruptedAt(id)
      this.refreshSoon()
    })
    client.on('error', (err) => this.seed.report(err))
    // A subscription that could not be made while the broker was away is made now; held batches may go.
    client.on('connect', () => this.changed())
    client.on('close', () => {
      const l = this.links.get(id)
      if (l?.client === client) this.links.delete(id)
    })
  }

  /** Options for a link's subscription or producer. */
  get connectOptions(): ConnectOptions {
    return this.opts
  }

  /**
   * A leader that stops answering loses its partitions to an election after
   * the lease TTL, and nothing tells its consumers when: a broker killed
   * drops the connection (one refresh then, while metadata still names it),
   * a paused or hung one keeps it up and says nothing. Consumers would wait
   * for the periodic refresh. So, every UNRESPONSIVE_MS, metadata is asked
   * again (of the brokers that answer) while it still names as a leader a
   * broker whose link is down, or has not answered a PING for
   * UNRESPONSIVE_MS (every link silent that long gets one): once another
   * broker leads those partitions, the consumers follow them there (a
   * producer's waiting publishes do the same on their own,
   * partition-routes.ts). A broker that leads nothing costs no refresh.
   */
  private probeLinks(): void {
    const now = Date.now()
    let refresh = false
    for (const [id, l] of this.links) {
      const conn = l.client?.current
      const lost = conn ? conn.unresponsive(UNRESPONSIVE_MS, now) : l.client?.status === 'reconnecting'
      if (lost && this.namesLeader(id)) refresh = true
    }
    if (refresh && now - this.lastRefresh >= UNRESPONSIVE_MS) this.refreshSoon()
  }

  /** Whether the metadata held names broker `id` leader of any partition. */
  private namesLeader(id: number): boolean {
    return this.meta?.topics.some((t) => t.partitions.some((p) => p.leader === id)) ?? false
  }

  /** Stop refreshing and close every link (each drains its producers and consumers first). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    if (this.probeTimer) clearInterval(this.probeTimer)
    const links = [...this.links.values()]
    await Promise.all(links.map((l) => (l.client ? l.client.close() : l.starting?.then((c) => c.close(), () => undefined))))
    this.links.clear()
  }
}
