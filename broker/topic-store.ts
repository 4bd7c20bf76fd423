/**
 * Where topics live on disk and how their config is stored:
 *
 *   <dataDir>/topics/<topic>/topic.json              config (partitions, retention, segment size)
 *   <dataDir>/topics/<topic>/<partition>/*.log|.idx  the partition's segments (worker-owned)
 *   <dataDir>/topics/<topic>/<partition>/groups/     consumer-group state (worker-owned)
 *
 * Names are checked (protocol/names.ts) before they reach any of these paths.
 *
 * A topic exists when its topic.json does. Creating one: make the directories
 * (each new one's parent fsynced), write topic.json to a temp file, fdatasync
 * it, rename it into place, fsync the topic directory. Only then is the
 * creation answered, so a topic a client was told about survives a power loss
 * (storage/fs-util.ts says why the directory fsyncs matter). A creation that
 * fails (a full disk: STORAGE_FULL) takes back what it made: no temp file,
 * and no topic directory without topic.json.
 *
 * Decision, for a topic directory without topic.json found at start (a crash
 * of an older broker between its mkdir and its rename): when no partition in
 * it holds a message, it is what an unfinished creation leaves behind, and it
 * is removed, with one warning, that start only. When a partition in it holds
 * messages, it is kept and the warning comes at every start: messages are on
 * disk that the broker does not serve, and guessing the topic's settings (its
 * partition count decides where keys go) could put them in the wrong place;
 * an operator decides. A topic.json that exists but cannot be read is never
 * removed either.
 */
import fs from 'node:fs'
import path from 'node:path'
import { threadId } from 'node:worker_threads'
import { SkiffError } from '../protocol/errors.js'
import { MAX_STORED_TOPIC_NAME, nameProblem } from '../protocol/names.js'
import { fsyncDir, fsyncDirAsync, mkdirDurable, mkdirDurableAsync } from './storage/fs-util.js'
import { isStorageFull } from './storage/storage-error.js'
import type { TopicConfig } from './thread-messages.js'

const CONFIG_FILE = 'topic.json'
/** Temp names: topic.json.<pid>.<thread>.<ms>.tmp */
const TEMP_FILE = /^topic\.json\..*\.tmp$/
const SEGMENT_FILE = /^\d{20}\.log$/

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

/** Unique temp name: two workers may create the same dead-letter topic at once. */
function tempName(dir: string): string {
  return path.join(dir, `${CONFIG_FILE}.${process.pid}.${threadId}.${Date.now()}.tmp`)
}

function configText(config: TopicConfig): string {
  return JSON.stringify(config, null, 2) + '\n'
}

/** STORAGE_FULL for a full disk or quota (the client may retry later); anything else as it came. */
function creationError(topic: string, err: unknown): unknown {
  if (!isStorageFull(err)) return err
  return new SkiffError('STORAGE_FULL', `topic ${topic} was not created: ${err.code} (the disk is full)`, { cause: err, details: { topic } })
}

/**
 * What a failed creation takes back: its temp file, and the topic directory
 * when this creation made it (rmdir, not rm -r: a directory someone else has
 * put a file in meanwhile stays). Best effort: the original error is the one
 * reported, and start-up removes what is left (see the header).
 */
function undoCreation(tmp: string, dir: string, created: string | undefined): void {
  try {
    fs.rmSync(tmp, { force: true })
    if (created !== undefined && (created === dir || dir.startsWith(created + path.sep))) {
      fs.rmdirSync(dir)
      fsyncDir(path.dirname(dir))
    }
  } catch {
    // ENOTEMPTY (another creator's file), or the disk failing further.
  }
}

async function undoCreationAsync(tmp: string, dir: string, created: string | undefined): Promise<void> {
  try {
    await fs.promises.rm(tmp, { force: true })
    if (created !== undefined && (created === dir || dir.startsWith(created + path.sep))) {
      await fs.promises.rmdir(dir)
      await fsyncDirAsync(path.dirname(dir))
    }
  } catch {
    // As in undoCreation.
  }
}

/** Create or replace a topic's config, durably (see the header). Throws STORAGE_FULL on a full disk. */
export function writeTopicConfig(dataDir: string, config: TopicConfig): void {
  const dir = topicDir(dataDir, config.topic)
  const tmp = tempName(dir)
  let created: string | undefined
  let renamed = false
  try {
    created = mkdirDurable(dir)
    const fd = fs.openSync(tmp, 'w')
    try {
      fs.writeSync(fd, configText(config))
      fs.fdatasyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, path.join(dir, CONFIG_FILE))
    renamed = true
    fsyncDir(dir)
  } catch (err) {
    if (!renamed) undoCreation(tmp, dir, created)
    throw creationError(config.topic, err)
  }
}

/** The same as writeTopicConfig without blocking the calling thread (for the gateway). */
export async function writeTopicConfigAsync(dataDir: string, config: TopicConfig): Promise<void> {
  const dir = topicDir(dataDir, config.topic)
  const tmp = tempName(dir)
  let created: string | undefined
  let renamed = false
  try {
    created = await mkdirDurableAsync(dir)
    const fh = await fs.promises.open(tmp, 'w')
    try {
      await fh.writeFile(configText(config))
      await fh.datasync()
    } finally {
      await fh.close()
    }
    await fs.promises.rename(tmp, path.join(dir, CONFIG_FILE))
    renamed = true
    await fsyncDirAsync(dir)
  } catch (err) {
    if (!renamed) await undoCreationAsync(tmp, dir, created)
    throw creationError(config.topic, err)
  }
}

export function readTopicConfig(dataDir: string, topic: string): TopicConfig | undefined {
  let text: string
  try {
    text = fs.readFileSync(path.join(topicDir(dataDir, topic), CONFIG_FILE), 'utf8')
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

/** True when some partition directory of the topic has a segment holding bytes, or one that does not start at 0. */
function holdsMessages(dir: string): boolean {
  for (const part of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!part.isDirectory() || !/^\d+$/.test(part.name)) continue
    for (const f of fs.readdirSync(path.join(dir, part.name))) {
      if (!SEGMENT_FILE.test(f)) continue
      if (!f.startsWith('00000000000000000000') || fs.statSync(path.join(dir, part.name, f)).size > 0) return true
    }
  }
  return false
}

/** Temp files of creations that never reached their rename. Best effort: a leftover costs a few bytes. */
function removeStrayTemps(dir: string): void {
  try {
    let removed = false
    for (const f of fs.readdirSync(dir)) {
      if (!TEMP_FILE.test(f)) continue
      fs.rmSync(path.join(dir, f), { force: true })
      removed = true
    }
    if (removed) fsyncDir(dir)
  } catch {
    // Unreadable directory: reported below when its topic.json cannot be read either.
  }
}

/**
 * Every topic with a readable config. Directories with bad names are skipped;
 * one without topic.json is removed or reported (see the header). Runs at
 * start, before any topic can be created.
 */
export function loadTopicConfigs(dataDir: string, warn: (msg: string, fields: Record<string, unknown>) => void): TopicConfig[] {
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(topicsDir(dataDir), { withFileTypes: true })
  } catch {
    return []
  }
  const out: TopicConfig[] = []
  for (const entry of entries) {
    const name = entry.name
    // Up to 253 characters: the dead-letter topic of a 249-character topic is the broker's own.
    if (!(entry.isDirectory() || entry.isSymbolicLink()) || nameProblem(name, MAX_STORED_TOPIC_NAME)) continue
    const dir = topicDir(dataDir, name)
    let problem: string | undefined
    try {
      removeStrayTemps(dir)
      const c = readTopicConfig(dataDir, name)
      if (c) {
        out.push(c)
        continue
      }
      if (!fs.existsSync(path.join(dir, CONFIG_FILE)) && !holdsMessages(dir)) {
        fs.rmSync(dir, { recursive: true, force: true })
        fsyncDir(topicsDir(dataDir))
        warn('unfinished topic creation removed: a directory without topic.json and without messages', { topic: name })
        continue
      }
    } catch (err) {
      // Not readable (permissions, I/O): the config may be fine, but it cannot be served.
      problem = (err as Error).message
    }
    warn('topic directory without a readable topic.json is ignored', { topic: name, ...(problem === undefined ? {} : { err: problem }) })
  }
  return out
}
