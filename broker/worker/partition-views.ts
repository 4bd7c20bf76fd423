/**
 * What admin requests and the metrics read from one partition, on its owning
 * worker: its log's figures, a peek at its records, its groups and their
 * positions. Read-only, and kept apart from partition.ts (delivery's hot
 * path) as partition-admin.ts keeps the changes.
 */
import type { StartPosition } from '../../protocol/index.js'
import type { PartitionLog } from '../storage/partition-log.js'
import type { GroupPosition, PartitionDescription, PeekedRecord } from '../thread-messages.js'
import type { Partition } from './partition.js'

/** Bytes one peek may read (after its first record): an answer the gateway holds whole. */
const PEEK_BYTES = 256 * 1024

export function describePartition(p: Partition): PartitionDescription {
  return { partition: p.partition, ...p.log.stats() }
}

/**
 * Up to `max` records from `offset` on (at most PEEK_BYTES after the first),
 * read from the log as a group's pump reads them, but for nobody: no cursor
 * is made or moved, nothing is counted as delivered. An offset before the
 * retained start reads from the start.
 */
export function peek(p: Partition, offset: number, max: number): PeekedRecord[] {
  return p.log.read(offset, max, PEEK_BYTES).map((r) => ({ offset: r.offset, timestamp: r.timestamp, record: r.record }))
}

/** Every group with a position here (those with state on disk were loaded at open); ephemeral groups are not listed. */
export function groupsOf(p: Partition): string[] {
  const out: string[] = []
  for (const c of p.cursors.values()) if (!c.ephemeral) out.push(c.group)
  return out
}

/** Lag of every group here, consumers connected or not (for the metrics gauges). */
export function groupLags(p: Partition): [string, number][] {
  const end = p.log.endOffset
  // Ephemeral groups have no lag series: they come and go with their subscriptions.
  const out: [string, number][] = []
  for (const c of p.cursors.values()) if (!c.ephemeral) out.push([c.group, c.lag(end)])
  return out
}

/** The group's position here; `recovery` says what recovery did to it at open (clamped, reset), when anything. */
export function describeGroup(p: Partition, group: string): GroupPosition | null {
  const c = p.cursors.get(group)
  if (!c || c.ephemeral) return null
  const end = p.log.endOffset
  const d: GroupPosition = { partition: p.partition, committed: c.floor, next: c.next, endOffset: end, lag: c.lag(end), inFlight: c.inFlight, members: c.members.length }
  if (c.recovery) d.recovery = c.recovery
  return d
}

/** The offset a start position names in `log` (an offset is bounded by the log's start and end). */
export function startPosition(log: PartitionLog, start: StartPosition, value: number | undefined): number {
  const { startOffset, endOffset } = log
  if (start === 'earliest') return startOffset
  if (start === 'offset') return Math.min(Math.max(value ?? 0, startOffset), endOffset)
  if (start === 'timestamp') return log.offsetForTimestamp(value ?? 0)
  return endOffset
}
