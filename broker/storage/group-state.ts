/**
 * Durable consumer-group state of one partition: two small snapshot files
 * per group in the partition's groups directory, `<group>.state` and
 * `<group>.state.prev`, each holding a whole snapshot.
 *
 *   off  size  field
 *   0    4     magic "SKGS"
 *   4    u8    version 1
 *   5    3     reserved 0
 *   8    u32   body length
 *   12   u32   CRC-32 (zlib) of the body
 *   16   ...   body: MessagePack map { next, floor, acked, deliveries, journal?, saved? }
 *
 * `saved` numbers a group's saves (absent in files from before it existed:
 * 0). Loading reads both files and takes the good one with the higher
 * number (on a tie, `.state`); when neither is good, undefined: the caller
 * then starts the group at the start of the log (see
 * worker/group-recovery.ts), which redelivers (at-least-once), never skips;
 * its configured start position could be 'latest'. Bad content never throws.
 *
 * The periodic save (saveGroupStateAsync, every groupCommitMs while the
 * group moves) overwrites, in place, the file that does not hold the newest
 * snapshot, then fdatasyncs it: open, write, fdatasync, close. The newest
 * snapshot is never touched, so a crash in the middle leaves it whole and
 * at worst a torn older file, which loading passes over (LMDB's two meta
 * pages work this way). No rename and so no directory fsync, except the
 * first time the other file is made. Before, each save wrote a temporary
 * file, fsynced it, renamed twice and fsynced the directory: nine calls on
 * the libuv pool and two fsyncs, one of them a journal commit of the file
 * system, per group and partition every 200 ms (bench/README.md, Round 22).
 *
 * The synchronous save (saveGroupState: a group's first snapshot, and the
 * last one at a graceful stop) still goes by rename: `<group>.state.tmp`
 * written and fsynced, the newest file renamed to `.state.prev` when it is
 * `.state`, the new one renamed over `.state`, the directory fsynced. A
 * first snapshot is then either whole or absent after a crash, never torn
 * (a torn one would read as lost state).
 *
 * `journal` (absent in files from before it existed: 0) is the sequence
 * number of the first delivery-journal entry the snapshot does not include
 * (storage/delivery-journal.ts): deliveries made after the snapshot are
 * counted from the journal at load. The journal keeps what the older of the
 * two files needs too, so either file can be the one loaded.
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
import { readdirSync, renameSync, unlinkSync } from 'node:fs'
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

function encodeStateFile(s: GroupSnapshot, saved: number): Buffer {
  const body: Record<string, unknown> = { next: s.next, floor: s.floor, acked: s.acked, deliveries: s.deliveries }
  if (s.journal !== undefined) body.journal = s.journal
  body.saved = saved
  return encodeChecked(MAGIC, pack(body))
}

type Slot = typeof CURRENT | typeof PREVIOUS

/**
 * Where a group's snapshots are on disk: which file holds the newest good
 * one (undefined: neither holds a good one), that save's number, and which
 * files exist (good or not).
 */
export interface GroupFiles {
  newest: Slot | undefined
  saved: number
  exists: Record<Slot, boolean>
}

interface SlotRead {
  slot: Slot
  snapshot?: GroupSnapshot
  saved: number
  problem?: string
}

/** Both files of `group`, and the one to load: the good one with the higher save number (a tie: `.state`). */
function readSlots(dir: string, group: string): { current: SlotRead; previous: SlotRead; newest: SlotRead | undefined } {
  checkGroupFileName(group)
  const base = join(dir, group)
  const current: SlotRead = { slot: CURRENT, ...readSnapshot(base + CURRENT) }
  const previous: SlotRead = { slot: PREVIOUS, ...readSnapshot(base + PREVIOUS) }
  let newest: SlotRead | undefined
  if (current.snapshot && previous.snapshot) newest = previous.saved > current.saved ? previous : current
  else newest = current.snapshot ? current : previous.snapshot ? previous : undefined
  return { current, previous, newest }
}

function filesOf({ current, previous, newest }: ReturnType<typeof readSlots>): GroupFiles {
  return { newest: newest?.slot, saved: newest?.saved ?? 0, exists: { [CURRENT]: current.problem !== 'missing', [PREVIOUS]: previous.problem !== 'missing' } }
}

/** Where `group`'s snapshots are (see GroupFiles); what a save needs to know first. */
export function readGroupFiles(dir: string, group: string): GroupFiles {
  return filesOf(readSlots(dir, group))
}

/**
 * The synchronous save, by rename (see the header): the newest file
 * becomes `.state.prev`, the new snapshot `.state`. `files` is where the
 * snapshots are, when the caller knows (else read from disk). Returns
 * where they are now.
 */
export function saveGroupState(dir: string, group: string, s: GroupSnapshot, known?: GroupFiles): GroupFiles {
  checkGroupFileName(group)
  mkdirDurable(dir)
  const files = known ?? readGroupFiles(dir, group)
  const base = join(dir, group)
  const saved = files.saved + 1
  writeSynced(base + TEMPORARY, encodeStateFile(s, saved))
  // `.state.prev` already holding the newest (an in-place save put it there) is kept as it is: the older `.state` is what goes.
  if (files.newest === CURRENT) renameSync(base + CURRENT, base + PREVIOUS)
  renameSync(base + TEMPORARY, base + CURRENT)
  fsyncDir(dir)
  return { newest: CURRENT, saved, exists: { [CURRENT]: true, [PREVIOUS]: files.newest !== undefined || files.exists[PREVIOUS] } }
}

/**
 * The periodic save, on the libuv pool (see the header): `files` is where
 * the snapshots are (readGroupFiles, or what the last save returned); the
 * file not holding the newest is overwritten in place and fdatasynced. A
 * group with no good snapshot gets its first by rename, as the synchronous
 * save does. Returns where the snapshots are now. The caller keeps at most
 * one save per group in flight and lets it finish before a synchronous save
 * of the same group. `dir` must exist.
 */
export async function saveGroupStateAsync(dir: string, group: string, s: GroupSnapshot, files: GroupFiles): Promise<GroupFiles> {
  checkGroupFileName(group)
  const base = join(dir, group)
  const saved = files.saved + 1
  const file = encodeStateFile(s, saved)
  if (files.newest === undefined) {
    await writeFileAsync(base + TEMPORARY, file)
    await fsp.rename(base + TEMPORARY, base + CURRENT)
    await fsyncDirAsync(dir)
    return { newest: CURRENT, saved, exists: { [CURRENT]: true, [PREVIOUS]: files.exists[PREVIOUS] } }
  }
  const target: Slot = files.newest === CURRENT ? PREVIOUS : CURRENT
  await writeFileAsync(base + target, file)
  // Only a file new to the directory needs the directory synced for its name to last.
  if (!files.exists[target]) await fsyncDirAsync(dir)
  return { newest: target, saved, exists: { [CURRENT]: true, [PREVIOUS]: true } }
}

/** Write `file` whole at `path` (created or truncated) and fdatasync it. */
async function writeFileAsync(path: string, file: Buffer): Promise<void> {
  const handle = await fsp.open(path, 'w')
  try {
    await handle.writeFile(file)
    await handle.datasync()
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
  return loadGroup(dir, group, log).snapshot
}

/** loadGroupState, and where the snapshots are (GroupFiles): recovery hands that to the saver, so its first save reads nothing again. */
export function loadGroup(dir: string, group: string, log?: LogFn): { snapshot: GroupSnapshot | undefined; files: GroupFiles } {
  const slots = readSlots(dir, group)
  return { snapshot: pickSnapshot(dir, group, slots, log), files: filesOf(slots) }
}

function pickSnapshot(dir: string, group: string, { current, previous, newest }: ReturnType<typeof readSlots>, log: LogFn | undefined): GroupSnapshot | undefined {
  if (newest) {
    const other = newest === current ? previous : current
    // A missing other file is no news (a group saved once, or a crash between the renames of a
    // synchronous save). A damaged one may have held the newer snapshot or the older (its save
    // number is in the damage), so the message says only which file was passed over.
    if (other.problem && other.problem !== 'missing') {
      log?.({ level: 'warn', msg: 'group state file damaged: the other snapshot file is used', group, file: join(dir, group + other.slot), problem: other.problem })
    }
    return newest.snapshot
  }
  if (current.problem === 'missing' && previous.problem === 'missing') return undefined
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

/** The snapshot in `path` and its save number, or what is wrong with the file. Only fs errors other than ENOENT throw. */
function readSnapshot(path: string): { snapshot?: GroupSnapshot; saved: number; problem?: string } {
  const { value, problem } = readPacked(path, MAGIC)
  if (problem) return { problem, saved: 0 }
  const snapshot = asSnapshot(value)
  if (!snapshot) return { problem: 'body is not a group snapshot', saved: 0 }
  const saved = (value as Record<string, unknown>).saved
  if (saved !== undefined && !isOffset(saved)) return { problem: 'body is not a group snapshot', saved: 0 }
  return { snapshot, saved: saved ?? 0 }
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
