/**
 * This broker's own copies of the cluster's topics, kept in line with etcd
 * (cluster/cluster-node.ts calls it as its view changes): a topic the
 * cluster created is written here; a new retention (TOPIC_ALTER) is applied
 * to every copy held here, and a new partition count is taken (the new
 * partitions' copies are opened by their replica roles, replicator.ts); a topic the cluster deleted (TOPIC_DELETE asked
 * of any broker) is removed here, with every partition this broker held a
 * copy of, led or followed, and the subscriptions to it end as on one broker.
 * Changes of one topic and its dead-letter chain are applied one after
 * another, in the order the cluster made them.
 *
 * Decisions written down here:
 * - A deletion is acted on when the watch shows the topic's key gone. A
 *   broker that was down then still holds its copy when it comes back; it
 *   does not delete data because etcd lacks a topic (a wiped or another etcd
 *   would look the same): the topic is not served (no partition key names
 *   it), and a warning after each full read of etcd names it.
 * - A topic created again under that name is another topic (another
 *   createdAt): the old copy is removed before the new one is written, so
 *   none of its records can pass for the new topic's (their epochs start
 *   at 1 in both). Dead-letter topics are removed with their origin, never
 *   on their own createdAt: a worker writes its own topic.json for one
 *   before the cluster's, and that copy holds dead letters.
 * - Partitions are dropped on their worker before the topic's directory is
 *   removed, and again after: a replicated append in flight could open one
 *   in between, and it must not outlive the topic (a topic created again
 *   would find it open).
 */
import { isDeadLetterTopic, originTopicOf } from '../../protocol/names.js'
import type { ClusterTopicSink } from '../cluster/cluster-node.js'
import { ownerOf, partitionNumbers } from '../routing.js'
import type { TopicConfig } from '../thread-messages.js'
import { existsSync } from 'node:fs'
import { partitionDir, readTopicConfig } from '../topic-store.js'
import type { GatewayContext } from './context.js'
import { endSubscriptions } from './handlers/admin.js'
import { tellLeadershipLost, type LostLeadership } from './leadership-notices.js'

export class ClusterTopics implements ClusterTopicSink {
  private readonly queue = new Map<string, Promise<unknown>>()
  /** Origins of the chains being removed: their partitions get no replica role meanwhile (replicator.ts). */
  private readonly removals = new Set<string>()

  constructor(private readonly ctx: GatewayContext) {}

  learn(config: TopicConfig): Promise<unknown> {
    return this.serially(config.topic, async () => {
      if (!isDeadLetterTopic(config.topic)) {
        const held = this.ctx.topics.get(config.topic) ?? readTopicConfig(this.ctx.config.dataDir, config.topic)
        if (held && held.createdAt !== config.createdAt) {
          this.ctx.logger.warn({ topic: config.topic, createdAt: held.createdAt, now: config.createdAt }, 'copy of an older topic of the same name removed')
          await this.removeChain(config.topic)
        }
      }
      const known = this.ctx.topics.get(config.topic)
      if (known && (known.retentionMs !== config.retentionMs || known.retentionBytes !== config.retentionBytes || known.partitions !== config.partitions)) {
        // TOPIC_ALTER in the cluster: the new retention, on every copy held here (the next retention check applies it), and the new partition count.
        const next = { ...known, retentionMs: config.retentionMs, retentionBytes: config.retentionBytes, partitions: config.partitions }
        const { pool } = this.ctx
        await this.ctx.topics.alter(next, async () => {
          await Promise.all(partitionNumbers(next.partitions).map((partition) => pool.request(ownerOf(next.topic, partition, pool.size), { t: 'reconfigure', config: next, partition })))
        })
        this.ctx.logger.info({ topic: next.topic, partitions: next.partitions, retentionMs: next.retentionMs, retentionBytes: next.retentionBytes }, 'topic altered')
        return next
      }
      return this.ctx.topics.learn(config)
    })
  }

  leadershipLost(lost: readonly LostLeadership[]): void {
    tellLeadershipLost(this.ctx, this.ctx.config.brokerId, lost)
  }

  deleted(topic: string): void {
    void this.serially(topic, async () => {
      await this.removeChain(topic)
      this.ctx.logger.info({ topic }, 'topic deleted')
    }).catch((err: unknown) => this.ctx.logger.error({ topic, err: (err as Error).message }, 'topic deleted in the cluster, but its copy on this broker was not removed'))
  }

  resynced(topics: ReadonlySet<string>): void {
    const stray = this.ctx.topics
      .list()
      .map((t) => t.topic)
      .filter((t) => !topics.has(t))
    if (stray.length === 0) return
    this.ctx.logger.warn(
      { topics: stray.slice(0, 20), count: stray.length, why: 'deleted while this broker was away, or made before it joined the cluster: their files stay until a topic of that name is created again, or are removed by hand' },
      'topics the cluster does not have are not served',
    )
  }

  settled(topic: string): Promise<void> {
    return (this.queue.get(originTopicOf(topic)) ?? Promise.resolve()).then(
      () => undefined,
      () => undefined,
    )
  }

  holdsCopy(topic: string, partition: number): boolean {
    // Only held topics have a directory to look at: one stat for each of their partitions placed elsewhere, once per process.
    return this.ctx.topics.get(topic) !== undefined && existsSync(partitionDir(this.ctx.config.dataDir, topic, partition))
  }

  current(topic: string, createdAt: number): boolean {
    if (this.removals.has(originTopicOf(topic))) return false
    const held = this.ctx.topics.get(topic)
    return held === undefined || held.createdAt === createdAt
  }

  /** The topic and its dead-letter chain, the last first: partitions dropped, files removed, subscriptions ended. */
  private async removeChain(topic: string): Promise<void> {
    const chain = this.ctx.topics.chain(topic)
    if (chain.length === 0) {
      const onDisk = readTopicConfig(this.ctx.config.dataDir, topic)
      if (onDisk) chain.push(onDisk)
    }
    const origin = originTopicOf(topic)
    this.removals.add(origin)
    try {
      for (const t of chain.reverse()) {
        await this.dropPartitions(t)
        await this.ctx.topics.remove(t.topic)
        await this.dropPartitions(t)
        endSubscriptions(this.ctx, t.topic)
      }
    } finally {
      this.removals.delete(origin)
    }
  }

  private dropPartitions(t: TopicConfig): Promise<unknown> {
    const { pool } = this.ctx
    return Promise.all(partitionNumbers(t.partitions).map((partition) => pool.request(ownerOf(t.topic, partition, pool.size), { t: 'drop', topic: t.topic, partition })))
  }

  /** Run `fn` after every change queued for `topic`'s chain (a `.dlq` topic waits for its origin's). */
  private serially<T>(topic: string, fn: () => Promise<T>): Promise<T> {
    const origin = originTopicOf(topic)
    const previous = this.queue.get(origin) ?? Promise.resolve()
    const run = previous.catch(() => {}).then(fn)
    this.queue.set(origin, run)
    void run.catch(() => {}).then(() => {
      if (this.queue.get(origin) === run) this.queue.delete(origin)
    })
    return run
  }
}
