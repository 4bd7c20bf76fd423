/**
 * A topic's replication factor (how many brokers hold a copy of each
 * partition) and minInSync (how many of those copies must hold a publish
 * before it is confirmed, CLUSTER.md invariant 1), as TOPIC_CREATE asks for
 * them, checked and defaulted.
 *
 * Defaults, as a Kafka operator would set them (default.replication.factor
 * 3, min.insync.replicas 2): three copies when the cluster has at least
 * three live brokers, else one per live broker; minInSync 2, or 1 for a
 * topic with one copy. So a topic created on a three-broker cluster survives
 * the loss of one machine without losing a confirmed publish and stays
 * writable through it.
 */
import { SkiffError } from '../../protocol/errors.js'

/** Most copies of a partition: a partition key's replica list is capped alike (records.ts). */
export const MAX_REPLICATION_FACTOR = 64
const DEFAULT_REPLICATION_FACTOR = 3
const DEFAULT_MIN_IN_SYNC = 2

export interface ReplicationRequest {
  replicationFactor?: number | undefined
  minInSync?: number | undefined
}

export interface Replication {
  replicationFactor: number
  minInSync: number
}

/**
 * INVALID_REQUEST, naming the field, for values no broker could take:
 * outside 1-64, or minInSync above replicationFactor when both are given.
 * (Not integers never get here: the frame's decoder refuses them.)
 */
export function checkReplicationRequest(req: ReplicationRequest): void {
  for (const field of ['replicationFactor', 'minInSync'] as const) {
    const v = req[field]
    if (v === undefined) continue
    if (!Number.isInteger(v) || v < 1 || v > MAX_REPLICATION_FACTOR) {
      throw new SkiffError('INVALID_REQUEST', `${field} must be an integer from 1 to ${MAX_REPLICATION_FACTOR}, got ${v}`, { details: { field, value: v } })
    }
  }
  if (req.replicationFactor !== undefined && req.minInSync !== undefined && req.minInSync > req.replicationFactor) {
    throw minAboveFactor(req.minInSync, req.replicationFactor, false)
  }
}

/** A single broker holds one copy: 1/1, and anything else asked for is INVALID_REQUEST. */
export function singleBrokerReplication(req: ReplicationRequest): Replication {
  checkReplicationRequest(req)
  for (const field of ['replicationFactor', 'minInSync'] as const) {
    const v = req[field]
    if (v !== undefined && v !== 1) {
      throw new SkiffError('INVALID_REQUEST', `${field} ${v} refused: a single broker keeps one copy of each partition (run brokers with --cluster for more)`, { details: { field, value: v } })
    }
  }
  return { replicationFactor: 1, minInSync: 1 }
}

/**
 * The settings for a topic created in a cluster of `liveBrokers` live
 * brokers, defaults filled in.
 *
 * More copies than live brokers is PARTITION_UNAVAILABLE, the error placement
 * gives when it cannot place a partition: retriable, because the answer
 * changes when brokers come back (during a rolling restart a three-broker
 * cluster has two live brokers for a while, and a create of three copies
 * succeeds once the third is back). The message names both numbers so an
 * operator who asked for more copies than the cluster will ever have sees it
 * at once. (Kafka refuses this as INVALID_REPLICATION_FACTOR, not retriable;
 * here the retry costs nothing and a client or script that retries
 * PARTITION_UNAVAILABLE rides through a restart.)
 */
export function clusterReplication(topic: string, req: ReplicationRequest, liveBrokers: number): Replication {
  checkReplicationRequest(req)
  const replicationFactor = req.replicationFactor ?? Math.max(1, Math.min(DEFAULT_REPLICATION_FACTOR, liveBrokers))
  const minInSync = req.minInSync ?? Math.min(DEFAULT_MIN_IN_SYNC, replicationFactor)
  if (minInSync > replicationFactor) throw minAboveFactor(minInSync, replicationFactor, req.replicationFactor === undefined)
  if (replicationFactor > liveBrokers) {
    throw new SkiffError(
      'PARTITION_UNAVAILABLE',
      `topic ${topic} was not created: replicationFactor ${replicationFactor} needs ${replicationFactor} live brokers, and the cluster has ${liveBrokers}; start more brokers or ask for fewer copies`,
      { details: { topic, replicationFactor, liveBrokers } },
    )
  }
  return { replicationFactor, minInSync }
}

function minAboveFactor(minInSync: number, replicationFactor: number, defaulted: boolean): SkiffError {
  const why = defaulted ? ` (the default here: one copy per live broker, at most 3)` : ''
  return new SkiffError('INVALID_REQUEST', `minInSync ${minInSync} is more than replicationFactor ${replicationFactor}${why}: a publish could never be confirmed`, {
    details: { field: 'minInSync', value: minInSync, replicationFactor },
  })
}
