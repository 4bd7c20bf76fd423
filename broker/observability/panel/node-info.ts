/**
 * The panel's node view (GET /api/node): what this broker process is and how
 * it is doing. Cheap to build (no worker is asked): a memory reading, one
 * statfs of the data directory, and counts the gateway holds.
 *
 * Memory: `rss` is the whole process (the gateway and every partition worker
 * share it); `heapUsed`/`heapTotal` are the gateway thread's V8 heap only
 * (each worker has its own heap, not visible from here).
 * Disk: the file system holding the data directory, as `df` shows it: `free`
 * is what an unprivileged process may still write (statfs bavail), `used` is
 * total minus all free blocks (reserved ones included).
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { VERSION } from '../../version.js'
import type { BrokerView, ClusterStatus } from '../broker-view.js'

export interface NodeInfo {
  version: string
  node: string
  pid: number
  startedAt: number
  uptimeS: number
  memory: { rss: number; heapUsed: number; heapTotal: number }
  dataDir: string
  disk: { totalBytes: number; usedBytes: number; freeBytes: number } | { error: string }
  workers: number
  connections: number
  topics: number
  fsync: string
  groupCommitMs: number
  /** This broker in its cluster: absent for a single broker. */
  cluster?: ClusterStatus
}

export async function nodeInfo(broker: BrokerView, startedAt: number): Promise<NodeInfo> {
  const { config } = broker
  const mem = process.memoryUsage()
  const now = Date.now()
  const cluster = broker.cluster()
  return {
    version: VERSION,
    node: process.version,
    pid: process.pid,
    startedAt,
    uptimeS: Math.floor((now - startedAt) / 1000),
    memory: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal },
    dataDir: path.resolve(config.dataDir),
    disk: await diskUsage(config.dataDir),
    workers: broker.workers,
    connections: broker.connections.size,
    topics: broker.topics.list().length,
    fsync: config.fsync,
    groupCommitMs: config.groupCommitMs,
    ...(cluster ? { cluster } : {}),
  }
}

async function diskUsage(dir: string): Promise<NodeInfo['disk']> {
  try {
    const s = await fs.statfs(dir)
    return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, freeBytes: s.bavail * s.bsize }
  } catch (err) {
    // Shown on the page instead of the numbers: a missing or unreadable data dir is worth seeing.
    return { error: (err as Error).message }
  }
}
