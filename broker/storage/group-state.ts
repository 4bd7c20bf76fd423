/**
 * Durable consumer-group state of one partition: one small snapshot file per
 * group in the partition's groups directory, replaced by atomic rename.
 *
 *   off  size  field
 *   0    4     magic "SKGS"
 *   4    u8    version 1
 *   5    3     reserved 0
 *   8    u32   body length
 *   12   u32   CRC-32 (zlib) of the body
 *   16   ...   body: MessagePack map { next, floor, acked, deliveries, journal? }
 *
 * Saving writes `<group>.state.tmp`, fsyncs it, renames the current
 * `<group>.state` to `<group>.state.prev`, renames the new file over
 * `<group>.state` and fsyncs the directory. Loading takes the current file,
 * falls back to `.prev` when the current one is missing or damaged (a crash
 * between the two renames, a disk that lied), and to undefined when both are
 * bad: the caller then starts the group at the start of the log (see
 * worker/group-recovery.ts), which redelivers (at-least-once), never skips;
 * its configured start position could be 'latest'. Bad content never throws.
 *
 * `journal` (absent in files from before it existed: 0) is the sequence
 * number of the first delivery-journal entry the snapshot does not include
 * (storage/delivery-journal.ts): deliveries made after the snapshot are
 * counted from the journal at load.
 *
 * The groups manifest (`groups.manifest`, same header with magic "SKGM" and
 * a MessagePack array of group names as body) lists every group that was ever
 * saved on the partition. It is the durable trace that tells "this group's
 * state was lost" (issue 14: both files deleted, the group restarted at
 * 'latest' without a word) from "this group is new". Written (atomic rename,
 * fsync, directory fsync) before a group's first snapshot, so a group with a
 * snapshot is always in it; rebuilt from the state files when it is missing
 * (a data dir from before it existed) or damaged.
 */
import { existsSync, readdirSync, renameSync, unlinkSync } from 'node:fs'
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { pack, unpack } from '../../protocol/codec.js'
import { SkiffError } from '../../protocol/errors.js'
import { nameProblem } from '../../protocol/names.js'
import { fsyncDir, fsyncDirAsync, mkdirDurable, writeSynced } from './fs-util.js'
import { encodeChecked, readChecked } from './checked-file.js'

export interface GroupSnapshot {
  /** Next never-delivered offset. */
  next: number
  /** Every offset < floor is settled (acked or dead-lettered). */
  floor: number
  /** Settled offsets >= floor. */
  acked: number[]
  /** [offset, deliveryCount] for delivered-but-unsettled offsets. */
  deliveries: [number, number][]
  /** First delivery-journal sequence not included (0 or absent: the journal is not consulted beyond what it holds). */
  journal?: number
}

const MAGIC = Buffer.from('SKGS', 'latin1')
const MANIFEST_MAGIC = Buffer.from('SKGM', 'latin1')
const MANIFEST = 'groups.manifest'
const CURRENT = '.state'
const PREVIOUS = '.state.prev'
const TEMPORARY = '.state.tmp'
/**
 * The longest group whose three file names fit in 255 bytes (244). Clients
 * are held to MAX_GROUP_NAME (200, protocol/names.ts) when they subscribe;
 * files are checked against what fits, so a group of 201-244 characters
 * saved by an older broker still loads, lists and describes.
 */
const MAX_GROUP_FILE_NAME = 255 - Math.max(CURRENT.length, PREVIOUS.length, TEMPORARY.length)

/** Throws INVALID_REQUEST unless `group` makes safe file names that fit. */
function checkGroupFileName(group: string): void {
  const problem = nameProblem(group, MAX_GROUP_FILE_NAME)
  if (problem) throw new SkiffError('INVALID_REQUEST', `group name ${JSON.stringify(group)} ${problem}`)
}

type LogFn = (e: Record<string, unknown>) => void

function encodeStateFile(s: GroupSnapshot): Buffer {
  const body: Record<string, unknown> = { next: s.next, floor: s.floor, acked: s.acked, deliveries: s.deliveries }
  if (s.journal !== undefined) body.journal = s.journal
  return encodeChecked(MAGIC, pack(body))
}

export function saveGroupState(dir: string, group: string, s: GroupSnapshot): void {
  checkGroupFileName(group)
  mkdirDurable(dir)
  const base = join(dir, group)
  writeSynced(base + TEMPORARY, encodeStateFile(s))
  if (existsSync(base + CURRENT)) renameSync(base + CURRENT, base + PREVIOUS)
  renameSync(base + TEMPORARY, base + CURRENT)
  fsyncDir(dir)
}

/**
 * The same save, on the libuv pool: the two fsyncs and renames cost a few
 * milliseconds that the worker spends delivering instead. The caller keeps at
 * most one save per group in flight (they share the temporary file) and lets
 * it finish before a synchronous save of the same group. `dir` must exist.
 */
export async function saveGroupStateAsync(dir: string, group: string, s: GroupSnapshot): Promise<void> {
  checkGroupFileName(group)
  const base = join(dir, group)
  await writeSyncedAsync(base + TEMPORARY, encodeStateFile(s))
  try {
    await fsp.rename(base + CURRENT, base + PREVIOUS)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await fsp.rename(base + TEMPORARY, base + CURRENT)
  await fsyncDirAsync(dir)
}

async function writeSyncedAsync(path: string, file: Buffer): Promise<void> {
  const handle = await fsp.open(path, 'w')
  try {
    await handle.writeFile(file)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Replace the groups manifest of `dir` with `groups` (atomic rename, synced). */
export function saveGroupManifest(dir: string, groups: Iterable<string>): void {
  mkdirDurable(dir)
  const path = join(dir, MANIFEST)
  writeSynced(path + '.tmp', encodeChecked(MANIFEST_MAGIC, pack([...groups].sort())))
  renameSync(path + '.tmp', path)
  fsyncDir(dir)
}

/** The groups named by the manifest of `dir`, or what is wrong with it ('missing' when there is none). */
export function loadGroupManifest(dir: string): { groups?: string[]; problem?: string } {
  const { value, problem } = readPacked(join(dir, MANIFEST), MANIFEST_MAGIC)
  if (problem) return { problem }
  if (!Array.isArray(value) || !value.every((g) => typeof g === 'string')) return { problem: 'body is not a list of group names' }
  return { groups: (value as string[]).filter((g) => nameProblem(g, MAX_GROUP_FILE_NAME) === undefined) }
}

export function loadGroupState(dir: string, group: string, log?: LogFn): GroupSnapshot | undefined {
  checkGroupFileName(group)
  const base = join(dir, group)
  const current = readSnapshot(base + CURRENT)
  if (current.snapshot) return current.snapshot
  const previous = readSnapshot(base + PREVIOUS)
  if (current.problem === 'missing' && previous.problem === 'missing') return undefined
  if (previous.snapshot) {
    log?.({ level: 'warn', msg: 'group state fell back to the previous snapshot', group, file: base + CURRENT, problem: current.problem })
    return previous.snapshot
  }
  log?.({ level: 'warn', msg: 'group state unreadable, starting fresh', group, current: current.problem, previous: previous.problem })
  return undefined
}

/** Groups with a state file (current or previous) in `dir`, sorted. */
export function listGroupStates(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const groups = new Set<string>()
  for (const name of names) {
    if (name.endsWith(PREVIOUS)) groups.add(name.slice(0, -PREVIOUS.length))
    else if (name.endsWith(CURRENT)) groups.add(name.slice(0, -CURRENT.length))
  }
  // Leftovers whose names cannot be saved (245-249 characters, from before the limit) are not groups.
  return [...groups].filter((g) => nameProblem(g, MAX_GROUP_FILE_NAME) === undefined).sort()
}

export function deleteGroupState(dir: string, group: string): void {
  checkGroupFileName(group)
  const base = join(dir, group)
  let removed = false
  for (const suffix of [CURRENT, PREVIOUS, TEMPORARY]) {
    try {
      unlinkSync(base + suffix)
      removed = true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  if (removed) fsyncDir(dir)
}

/** The MessagePack value in the checked file `path`, or what is wrong with it. Only fs errors other than ENOENT throw. */
function readPacked(path: string, magic: Buffer): { value?: unknown; problem?: string } {
  const read = readChecked(path, magic)
  if (!read.body) return { problem: read.problem! }
  try {
    return { value: unpack(read.body) }
  } catch {
    return { problem: 'body is not MessagePack' }
  }
}

/** The snapshot in `path`, or what is wrong with the file. Only fs errors other than ENOENT throw. */
function readSnapshot(path: string): { snapshot?: GroupSnapshot; problem?: string } {
  const { value, problem } = readPacked(path, MAGIC)
  if (problem) return { problem }
  const snapshot = asSnapshot(value)
  return snapshot ? { snapshot } : { problem: 'body is not a group snapshot' }
}

function asSnapshot(v: unknown): GroupSnapshot | undefined {
  if (v === null || typeof v !== 'object') return undefined
  const o = v as Record<string, unknown>
  if (!isOffset(o.next) || !isOffset(o.floor)) return undefined
  if (!Array.isArray(o.acked) || !o.acked.every(isOffset)) return undefined
  if (!Array.isArray(o.deliveries)) return undefined
  const deliveries: [number, number][] = []
  for (const d of o.deliveries) {
    if (!Array.isArray(d) || d.length !== 2 || !isOffset(d[0]) || !isOffset(d[1])) return undefined
    deliveries.push([d[0], d[1]])
  }
  if (o.journal !== undefined && !isOffset(o.journal)) return undefined
  const snapshot: GroupSnapshot = { next: o.next, floor: o.floor, acked: o.acked as number[], deliveries }
  if (o.journal !== undefined) snapshot.journal = o.journal
  return snapshot
}

function isOffset(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}
