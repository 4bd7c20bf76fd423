/**
 * The gateway's table of topics: their configs, loaded at start and changed by
 * admin requests, auto-creation and the workers' dead-letter topics. Publishes
 * and subscriptions need the partition count before they can be routed.
 *
 * `maxTopics` is enforced here, for every path that creates a topic (PUBLISH,
 * SUBSCRIBE, TOPIC_CREATE, UDP telemetry), atomically: the count is the topics
 * that exist plus those being created, checked and reserved in the same
 * synchronous step that starts the write, so pipelined or concurrent
 * creators can never pass the limit. A refusal costs O(1) (map sizes; no
 * list of topic names). Joining a creation already under way is not a new
 * topic. Dead-letter topics the workers create while dead-lettering arrive
 * through add() and are never refused: a dead letter must not be lost to a
 * limit (they do count towards it).
 *
 * Dead-letter topics (`<topic>.dlq`) are created by the broker only, with
 * their origin's partition count, so a record's origin partition and its
 * dead-letter partition have the same owner. Subscribing to one that does not
 * exist yet creates it when its origin exists (so a DLQ consumer can start
 * before the first dead letter), and is UNKNOWN_TOPIC when the origin does not:
 * reading dead letters never creates their origin (a chain of `.dlq` names
 * used to create one topic per link).
 *
 * In a cluster, a topic is created in etcd first (`coordinator`,
 * cluster/cluster-node.ts), then here; topics created on other brokers
 * arrive through learn(). Whoever created it first wins: a TOPIC_CREATE that
 * loses the race is TOPIC_EXISTS, a publish or subscribe takes the topic as
 * the winner made it.
 *
 * A creation is answered once topic.json and its directories are durable
 * (topic-store.ts); on a full disk it fails with STORAGE_FULL (retriable) and
 * leaves nothing behind, and the reservation is released.
 */
import fs from 'node:fs'
import { SkiffError } from '../../protocol/errors.js'
import { checkName, isDeadLetterTopic, DLQ_SUFFIX } from '../../protocol/names.js'
import { MAX_PARTITIONS, type TopicCreate } from '../../protocol/frames/admin.js'
import type { BrokerConfig } from '../config.js'
import type { TopicConfig } from '../thread-messages.js'
import { loadTopicConfigs, topicDir, topicsDir, writeTopicConfigAsync } from '../topic-store.js'
import { fsyncDirAsync } from '../storage/fs-util.js'
import { checkReplicationRequest, singleBrokerReplication, type ReplicationRequest } from '../cluster/replication-settings.js'

/** Where a new topic is made to exist before this broker writes it (a cluster's etcd). */
export interface TopicCoordinator {
  /** The topic as the cluster has it, and whether this call created it; `replication` as TOPIC_CREATE asked (defaults: the cluster's). */
  create(config: TopicConfig, replication?: ReplicationRequest): Promise<{ config: TopicConfig; created: boolean }>
}

export class TopicRegistry {
  private readonly topics = new Map<string, TopicConfig>()
  private readonly creating = new Map<string, Promise<TopicConfig>>()
  /** Set in a cluster (broker/index.ts). */
  coordinator: TopicCoordinator | undefined

  constructor(private readonly config: BrokerConfig) {}

  load(warn: (msg: string, fields: Record<string, unknown>) => void): void {
    for (const c of loadTopicConfigs(this.config.dataDir, warn)) this.topics.set(c.topic, c)
  }

  get(topic: string): TopicConfig | undefined {
    return this.topics.get(topic)
  }

  list(): TopicConfig[] {
    return [...this.topics.values()].sort((a, b) => a.topic.localeCompare(b.topic))
  }

  /**
   * A topic a worker created (a dead-letter topic). In a cluster it is made
   * known to the other brokers too (its partitions live with its origin's);
   * a failure is returned for the caller to log: the dead letters are stored
   * here either way.
   */
  add(config: TopicConfig): Promise<unknown> {
    if (!this.topics.has(config.topic)) this.topics.set(config.topic, config)
    return this.coordinator?.create(config) ?? Promise.resolve()
  }

  /** The topic for a publish or subscribe, created with defaults when allowed (and within maxTopics). */
  async ensure(topic: string, forSubscribe: boolean): Promise<TopicConfig> {
    checkName('topic', topic)
    const existing = this.topics.get(topic)
    if (existing) return existing
    if (!this.config.autoCreateTopics) throw unknownTopic(topic)
    if (isDeadLetterTopic(topic)) {
      if (!forSubscribe) throw new SkiffError('INVALID_REQUEST', `${topic} is a dead-letter topic: only the broker writes to it`)
      const originName = topic.slice(0, -DLQ_SUFFIX.length)
      // An origin being created (a SUBSCRIBE to it pipelined just before) is waited for, never created here.
      const origin = this.topics.get(originName) ?? (await this.creating.get(originName)?.catch(() => undefined))
      if (!origin) throw unknownTopic(topic, `topic ${topic} does not exist, nor does ${originName}, whose dead letters it would hold`)
      return this.topics.get(topic) ?? this.createOnce({ ...origin, topic, createdAt: Date.now() })
    }
    return this.createOnce(this.withDefaults({ corr: 0, topic }))
  }

  async create(req: TopicCreate): Promise<TopicConfig> {
    checkName('topic', req.topic)
    if (isDeadLetterTopic(req.topic)) {
      throw new SkiffError('INVALID_REQUEST', `topic names ending in ${DLQ_SUFFIX} are dead-letter topics, created by the broker`)
    }
    const replication = { replicationFactor: req.replicationFactor, minInSync: req.minInSync }
    // Values no broker takes are refused first; a single broker takes only one copy. A cluster fills in its defaults (cluster-node.ts).
    if (this.coordinator) checkReplicationRequest(replication)
    else singleBrokerReplication(replication)
    if (this.topics.has(req.topic) || this.creating.has(req.topic)) throw topicExists(req.topic)
    const config = this.withDefaults(req)
    let createdHere = false
    const made = await this.createOnce(config, (c) => (createdHere = c), replication)
    if (this.coordinator && !createdHere) throw topicExists(req.topic)
    return made
  }

  /**
   * A topic the cluster has (cluster/cluster-node.ts): written to this
   * broker's disk, then its table, once; never refused by maxTopics (the
   * cluster made it already).
   */
  learn(config: TopicConfig): Promise<TopicConfig> {
    const known = this.topics.get(config.topic)
    if (known) return Promise.resolve(known)
    return this.creating.get(config.topic) ?? this.write(config, writeTopicConfigAsync(this.config.dataDir, config).then(() => config))
  }

  private withDefaults(req: TopicCreate): TopicConfig {
    const partitions = req.partitions ?? this.config.defaultPartitions
    if (partitions < 1 || partitions > MAX_PARTITIONS) throw new SkiffError('INVALID_REQUEST', `partitions must be 1-${MAX_PARTITIONS}`)
    return {
      topic: req.topic,
      partitions,
      retentionMs: req.retentionMs ?? this.config.retentionMs,
      retentionBytes: req.retentionBytes ?? this.config.retentionBytes,
      segmentBytes: Math.max(4096, req.segmentBytes ?? this.config.segmentBytes),
      createdAt: Date.now(),
    }
  }

  /**
   * Concurrent creators of one topic share one write. A new creation is
   * counted against maxTopics and reserved (in `creating`) before the write
   * starts, with no await in between; the reservation becomes the topic, or
   * is released when the write fails.
   */
  private createOnce(config: TopicConfig, created: (byThisCall: boolean) => void = () => {}, replication: ReplicationRequest = {}): Promise<TopicConfig> {
    const inflight = this.creating.get(config.topic)
    if (inflight) return inflight
    this.checkTopicLimit(config.topic)
    const coordinator = this.coordinator
    const durable = coordinator
      ? coordinator.create(config, replication).then(async (r) => {
          created(r.created)
          await writeTopicConfigAsync(this.config.dataDir, r.config)
          return r.config
        })
      : writeTopicConfigAsync(this.config.dataDir, config).then(() => {
          created(true)
          return config
        })
    return this.write(config, durable)
  }

  /** Reserve `config.topic` while `durable` makes it exist; it becomes the topic, or is released on failure. */
  private write(config: TopicConfig, durable: Promise<TopicConfig>): Promise<TopicConfig> {
    const p = durable.then(
      (made) => {
        // In one step, so the topic is never counted twice (existing and being created).
        this.creating.delete(config.topic)
        this.topics.set(config.topic, made)
        return made
      },
      (err: unknown) => {
        this.creating.delete(config.topic)
        throw err
      },
    )
    this.creating.set(config.topic, p)
    return p
  }

  /** INVALID_REQUEST when a new topic would pass maxTopics, counting those being created. O(1). */
  private checkTopicLimit(topic: string): void {
    const { maxTopics } = this.config
    const count = this.topics.size + this.creating.size
    if (maxTopics > 0 && count >= maxTopics) {
      throw new SkiffError('INVALID_REQUEST', `the broker already has ${count} topics (maxTopics ${maxTopics}); topic ${topic} was not created`, {
        details: { limit: 'maxTopics', value: maxTopics, topic },
      })
    }
  }

  /**
   * A topic's changed config (TOPIC_ALTER): topic.json is replaced durably
   * (topic-store.ts) before the table changes; `commit` is called between the
   * two, for the workers to open new partitions before anything is routed to them.
   */
  async alter(config: TopicConfig, commit: () => Promise<void>): Promise<void> {
    if (!this.topics.has(config.topic)) throw unknownTopic(config.topic)
    await writeTopicConfigAsync(this.config.dataDir, config)
    await commit()
    this.topics.set(config.topic, config)
  }

  /** The topic and its dead-letter chain, for deletion (workers must drop partitions first). */
  chain(topic: string): TopicConfig[] {
    const out: TopicConfig[] = []
    for (let t = this.topics.get(topic); t; t = this.topics.get(t.topic + DLQ_SUFFIX)) out.push(t)
    return out
  }

  /** Delete the topic's files; the topics directory is fsynced so a power loss does not bring the topic back. */
  async remove(topic: string): Promise<void> {
    this.topics.delete(topic)
    await fs.promises.rm(topicDir(this.config.dataDir, topic), { recursive: true, force: true })
    await fsyncDirAsync(topicsDir(this.config.dataDir)).catch(() => {})
  }
}

function topicExists(topic: string): SkiffError {
  return new SkiffError('TOPIC_EXISTS', `topic ${topic} already exists`, { details: { topic } })
}

function unknownTopic(topic: string, message = `topic ${topic} does not exist`): SkiffError {
  return new SkiffError('UNKNOWN_TOPIC', message, { details: { topic } })
}
