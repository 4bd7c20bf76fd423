/**
 * Where topics live on disk and how their config is stored:
 *
 *   <dataDir>/topics/<topic>/topic.json              config (partitions, retention, segment size)
 *   <dataDir>/topics/<topic>/<partition>/*.log|.idx  the partition's segments (worker-owned)
 *   <dataDir>/topics/<topic>/<partition>/groups/     consumer-group state (worker-owned)
 *
 * Names are checked (protocol/names.ts) before they reach any of these paths.
 * topic.json is written to a temp file and renamed, so it is whole or absent.
 */
import fs from 'node:fs'
import path from 'node:path'
import { threadId } from 'node:worker_threads'
import { MAX_STORED_TOPIC_NAME, nameProblem } from '../protocol/names.js'
import { stringHash } from '../protocol/records.js'
import { originTopicOf } from '../protocol/names.js'
import type { TopicConfig } from './thread-messages.js'

export function topicsDir(dataDir: string): string {
  return path.join(dataDir, 'topics')
}

export function topicDir(dataDir: string, topic: string): string {
  return path.join(dataDir, 'topics', topic)
}

export function partitionDir(dataDir: string, topic: string, partition: number): string {
  return path.join(dataDir, 'topics', topic, String(partition))
}

export function groupsDir(dataDir: string, topic: string, partition: number): string {
  return path.join(partitionDir(dataDir, topic, partition), 'groups')
}

/**
 * The worker that owns a partition. A dead-letter topic's partition hashes as
 * its origin's, so dead-lettering is an append by the same thread, never a hop.
 */
export function ownerOf(topic: string, partition: number, workers: number): number {
  return stringHash(`${originTopicOf(topic)}/${partition}`) % workers
}

export function writeTopicConfig(dataDir: string, config: TopicConfig): void {
  const dir = topicDir(dataDir, config.topic)
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'topic.json')
  // Unique temp name: two workers may create the same dead-letter topic at once.
  const tmp = `${file}.${process.pid}.${threadId}.${Date.now()}.tmp`
  const fd = fs.openSync(tmp, 'w')
  try {
    fs.writeSync(fd, JSON.stringify(config, null, 2) + '\n')
    fs.fdatasyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
}

export function readTopicConfig(dataDir: string, topic: string): TopicConfig | undefined {
  let text: string
  try {
    text = fs.readFileSync(path.join(topicDir(dataDir, topic), 'topic.json'), 'utf8')
  } catch {
    return undefined
  }
  try {
    const c = JSON.parse(text) as TopicConfig
    if (c.topic !== topic || !Number.isInteger(c.partitions) || c.partitions < 1) return undefined
    return c
  } catch {
    return undefined
  }
}

/** Every topic with a readable config; directories with bad names or no config are skipped and reported. */
export function loadTopicConfigs(dataDir: string, warn: (msg: string, fields: Record<string, unknown>) => void): TopicConfig[] {
  let names: string[]
  try {
    names = fs.readdirSync(topicsDir(dataDir))
  } catch {
    return []
  }
  const out: TopicConfig[] = []
  for (const name of names) {
    // Up to 253 characters: the dead-letter topic of a 249-character topic is the broker's own.
    if (nameProblem(name, MAX_STORED_TOPIC_NAME)) continue
    const c = readTopicConfig(dataDir, name)
    if (c) out.push(c)
    else warn('topic directory without a readable topic.json is ignored', { topic: name })
  }
  return out
}

/** The same as writeTopicConfig without blocking the calling thread (for the gateway). */
export async function writeTopicConfigAsync(dataDir: string, config: TopicConfig): Promise<void> {
  const dir = topicDir(dataDir, config.topic)
  await fs.promises.mkdir(dir, { recursive: true })
  const file = path.join(dir, 'topic.json')
  const tmp = `${file}.${process.pid}.${threadId}.${Date.now()}.tmp`
  const fh = await fs.promises.open(tmp, 'w')
  try {
    await fh.writeFile(JSON.stringify(config, null, 2) + '\n')
    await fh.datasync()
  } finally {
    await fh.close()
  }
  await fs.promises.rename(tmp, file)
}
