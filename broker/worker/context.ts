/**
 * What a worker's partitions share: the data dir, the fsync policy, the
 * outbox to the gateway, and the table of partitions this worker owns.
 */
import { SkiffError } from '../../protocol/errors.js'
import { rmSync } from 'node:fs'
import { partitionDir, readTopicConfig, writeTopicConfig } from '../topic-store.js'
import type { FsyncPolicy } from '../fsync-policy.js'
import type { TopicConfig } from '../thread-messages.js'
import type { Outbox } from './outbox.js'
import { Partition } from './partition.js'
import { abandonPartition } from './replication.js'
import type { WorkerMetrics } from '../observability/worker-metrics.js'
import type { Member } from './group-cursor.js'

export class WorkerContext {
  readonly partitions = new Map<string, Partition>()
  /** Connections whose sockets are backed up (the gateway's 'congested' op): members joining from them start paused too. */
  readonly congested = new Set<number>()
  /**
   * Each subscription's member on this worker, by its credit pool (the `sub`
   * op's creditPool): one object in the cursor of every partition of the
   * subscription here, so its inFlight and maxInFlight are shared by them
   * (subscribe.ts workerShares). Only looked up when a partition subscribes;
   * forgotten at UNSUBSCRIBE and when the connection goes.
   */
  readonly members = new Map<number, Member>()

  constructor(
    readonly dataDir: string,
    readonly fsync: FsyncPolicy,
    readonly outbox: Outbox,
    readonly metrics: WorkerMetrics,
  ) {}

  /**
   * The partition, opened on first use. `like` creates a missing topic with
   * that topic's settings (dead-letter topics); without it a missing topic is
   * UNKNOWN_TOPIC (the gateway creates topics before routing to them).
   */
  partition(topic: string, partition: number, like?: TopicConfig): Partition {
    const p = this.partitions.get(`${topic}/${partition}`)
    if (p) return p
    let config = readTopicConfig(this.dataDir, topic)
    if (!config && like) {
      config = { ...like, topic, createdAt: Date.now() }
      writeTopicConfig(this.dataDir, config)
      this.outbox.push({ t: 'topic', config })
    }
    if (!config) throw new SkiffError('UNKNOWN_TOPIC', `topic ${topic} does not exist`)
    if (partition >= config.partitions) throw new SkiffError('INVALID_REQUEST', `topic ${topic} has no partition ${partition}`)
    return this.open(config, partition)
  }

  /** Open (recover) a partition of a topic whose config is known, or return it when it is open. */
  open(config: TopicConfig, partition: number): Partition {
    const key = `${config.topic}/${partition}`
    let p = this.partitions.get(key)
    if (!p) this.partitions.set(key, (p = new Partition(config, partition, this)))
    return p
  }

  /** Forget the members of connection `conn` (of its subscription `sub` only, when given). */
  forgetMembers(conn: number, sub?: number): void {
    for (const [pool, m] of this.members) if (m.conn === conn && (sub === undefined || m.sub === sub)) this.members.delete(pool)
  }

  existing(topic: string, partition: number): Partition | undefined {
    return this.partitions.get(`${topic}/${partition}`)
  }

  /** Close the partition and remove its files, open or not (a copy moved off this broker is never opened). */
  drop(topic: string, partition: number): void {
    const key = `${topic}/${partition}`
    const p = this.partitions.get(key)
    if (p) {
      abandonPartition(p, this.outbox)
      p.destroy()
      this.partitions.delete(key)
      this.metrics.forget(topic)
    }
    rmSync(partitionDir(this.dataDir, topic, partition), { recursive: true, force: true })
  }
}
