/**
 * The delivery journal of one partition's consumer groups: which offsets each
 * group delivered since its snapshots (group-state.ts) were taken, so that a
 * message's delivery count survives a crash of the broker process. Before it,
 * everything delivered since the last group save (every groupCommitMs) came
 * back with its count started again at 1 (issue 14: 13,575 of 15,378
 * redeliveries in one kill loop), and a message that crashes the broker
 * never reached maxDeliveries.
 *
 * Files: `<groups dir>/deliveries.<first sequence, 20 digits>.journal`, each
 * a run of entries:
 *
 *   off  size  field
 *   0    u32   body length
 *   4    u32   CRC-32 (zlib) of the body
 *   8    ...   body: MessagePack [seq, group, ranges, group, ranges, ...]
 *               ranges: [firstOffset, count, ...], each offset delivered once
 *
 * Decisions:
 * - One entry per partition per worker turn that delivered anything, written
 *   with one write(2) after the turn's pumps and before the turn's message
 *   to the gateway is posted (Outbox.flush): no delivery leaves the worker
 *   before its entry is in the file. A process crash (kill -9, OOM, a
 *   crashing thread) loses nothing the kernel has, so the counts are exact
 *   after one, under every fsync policy. The journal is not fsynced: a
 *   power loss can lose the entries written since the snapshots were last
 *   saved (every groupCommitMs), the same window the groups' acks have.
 *   An fsync per delivering turn would double the fsyncs of a consuming
 *   partition; a write costs about 2 µs per 1,000 deliveries.
 * - Entries are numbered. A snapshot records `journal`: the number of the
 *   first entry it does not include; at load a group's count of an offset is
 *   its snapshot's count plus the entries at or after that mark naming it.
 * - A file is closed at ROLL_BYTES and the next entry starts a new one; at
 *   open, a new one is always started (a file's tail may be torn). An old
 *   file is deleted once both snapshot files of every group it names (the
 *   current and the previous, which a load falls back to) include it.
 * - A damaged entry ends the reading of its file (logged); later files are
 *   still read. Counts can then be low, never wrong in the other direction.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { pack, unpack } from '../../protocol/codec.js'
import { writeFully } from './fs-util.js'

const FILE_NAME = /^deliveries\.(\d{20})\.journal$/
const ENTRY_HEADER = 8
/** Past this a file is closed and the next entry starts a new one, so old entries can be deleted. */
export const ROLL_BYTES = 256 * 1024

/** One group's part of one entry. */
export interface JournalRecord {
  seq: number
  /** [firstOffset, count] pairs. */
  ranges: number[]
}

interface JournalFile {
  path: string
  firstSeq: number
  /** Groups with a record in the file. */
  groups: Set<string>
}

type LogFn = (e: Record<string, unknown>) => void

export class DeliveryJournal {
  /** Closed files, oldest first. */
  private readonly old: JournalFile[] = []
  private current: JournalFile | undefined
  private fd = -1
  private bytes = 0
  /** This turn's records: group, ranges, group, ranges, ... */
  private pending: unknown[] = []
  /** Per group, the marks of its previous and current snapshot files. */
  private readonly marks = new Map<string, [previous: number, current: number]>()
  private dirMade = false
  /** The number the next entry gets. */
  nextSeq = 0

  private constructor(private readonly dir: string) {}

  /** Read the journal files in `dir`: the journal, and each group's records in order. Only fs errors throw. */
  static open(dir: string, log: LogFn): { journal: DeliveryJournal; records: Map<string, JournalRecord[]> } {
    const journal = new DeliveryJournal(dir)
    const records = new Map<string, JournalRecord[]>()
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { journal, records }
      throw err
    }
    journal.dirMade = true
    const files: JournalFile[] = []
    for (const name of names) {
      const m = FILE_NAME.exec(name)
      if (m && Number.isSafeInteger(Number(m[1]))) files.push({ path: join(dir, name), firstSeq: Number(m[1]), groups: new Set() })
    }
    files.sort((a, b) => a.firstSeq - b.firstSeq)
    for (const f of files) {
      journal.nextSeq = Math.max(journal.nextSeq, f.firstSeq)
      const buf = readFileSync(f.path)
      let at = 0
      for (;;) {
        const entry = readEntry(buf, at)
        if (!entry) break
        for (let i = 1; i < entry.body.length; i += 2) {
          const group = entry.body[i] as string
          let list = records.get(group)
          if (!list) records.set(group, (list = []))
          list.push({ seq: entry.body[0] as number, ranges: entry.body[i + 1] as number[] })
          f.groups.add(group)
        }
        journal.nextSeq = Math.max(journal.nextSeq, (entry.body[0] as number) + 1)
        at = entry.end
      }
      if (at < buf.length) log({ level: 'warn', msg: 'delivery journal damaged: the rest of the file is ignored', file: f.path, position: at, bytesIgnored: buf.length - at })
      journal.old.push(f)
    }
    return { journal, records }
  }

  /** Record that `group` delivered the offsets of `ranges` ([first, count] pairs) this turn. */
  add(group: string, ranges: number[]): void {
    this.pending.push(group, ranges)
  }

  /** Write this turn's records as one entry (before the turn's deliveries leave the worker). Throws fs errors; the records are dropped then. */
  flush(): void {
    if (this.pending.length === 0) return
    const body = pack([this.nextSeq, ...this.pending])
    const groups = this.pending
    this.pending = []
    this.nextSeq++
    const entry = Buffer.allocUnsafe(ENTRY_HEADER + body.length)
    entry.writeUInt32BE(body.length, 0)
    entry.writeUInt32BE(crc32(body), 4)
    body.copy(entry, ENTRY_HEADER)
    const file = this.currentFile()
    try {
      writeFully(this.fd, entry, this.bytes)
    } catch (err) {
      // A short write leaves a torn entry that would hide the ones after it: go on in a new file.
      this.roll()
      throw err
    }
    this.bytes += entry.length
    for (let i = 0; i < groups.length; i += 2) file.groups.add(groups[i] as string)
    if (this.bytes >= ROLL_BYTES) this.roll()
  }

  /** The group's snapshot with `mark` was loaded at open (its previous file's mark is unknown: taken as 0). */
  loaded(group: string, mark: number): void {
    this.marks.set(group, [0, mark])
  }

  /** A snapshot of `group` with `mark` is durable: the one it replaced is now its previous file. */
  saved(group: string, mark: number): void {
    this.marks.set(group, [this.marks.get(group)?.[1] ?? 0, mark])
  }

  /**
   * Delete the old files that both snapshot files of every group they name
   * include. A group whose current snapshot includes a file but whose
   * previous one does not is handed to `saveAgain`: one more save makes its
   * previous file include it too (an idle group would otherwise keep the
   * file forever).
   */
  prune(saveAgain: (group: string) => void): void {
    for (let i = 0; i < this.old.length; i++) {
      const f = this.old[i]!
      const end = this.old[i + 1]?.firstSeq ?? this.current?.firstSeq ?? this.nextSeq
      let kept = false
      for (const g of f.groups) {
        const [previous, current] = this.marks.get(g) ?? [0, 0]
        if (previous >= end) continue
        kept = true
        if (current >= end) saveAgain(g)
      }
      if (kept) continue
      try {
        unlinkSync(f.path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
      // Not followed by a directory fsync: a file that comes back after a power loss holds only
      // entries below every durable snapshot's mark, which are never applied.
      this.old.splice(i--, 1)
    }
  }

  /** Files on disk now (for tests and the recovery summary). */
  get files(): number {
    return this.old.length + (this.current ? 1 : 0)
  }

  close(): void {
    this.roll()
  }

  private currentFile(): JournalFile {
    if (this.current) return this.current
    if (!this.dirMade) mkdirSync(this.dir, { recursive: true })
    this.dirMade = true
    const path = join(this.dir, `deliveries.${String(this.nextSeq).padStart(20, '0')}.journal`)
    // An old file of the same name can only be one without a readable entry (nextSeq passes every entry read).
    const same = this.old.findIndex((f) => f.path === path)
    if (same >= 0) this.old.splice(same, 1)
    this.fd = openSync(path, 'w')
    this.bytes = 0
    return (this.current = { path, firstSeq: this.nextSeq, groups: new Set() })
  }

  /** Close the current file; the next entry starts a new one. */
  private roll(): void {
    if (!this.current) return
    closeSync(this.fd)
    this.fd = -1
    this.old.push(this.current)
    this.current = undefined
  }
}

/** The entry at `at`, or undefined at the end of the file or at damage. */
function readEntry(buf: Buffer, at: number): { body: unknown[]; end: number } | undefined {
  if (at + ENTRY_HEADER > buf.length) return undefined
  const end = at + ENTRY_HEADER + buf.readUInt32BE(at)
  if (end > buf.length) return undefined
  const raw = buf.subarray(at + ENTRY_HEADER, end)
  if (crc32(raw) !== buf.readUInt32BE(at + 4)) return undefined
  let body: unknown
  try {
    body = unpack(raw)
  } catch {
    return undefined
  }
  return isEntry(body) ? { body, end } : undefined
}

function isEntry(v: unknown): v is unknown[] {
  if (!Array.isArray(v) || v.length % 2 !== 1 || !isOffset(v[0])) return false
  for (let i = 1; i < v.length; i += 2) {
    const ranges = v[i + 1]
    if (typeof v[i] !== 'string' || !Array.isArray(ranges) || ranges.length % 2 !== 0 || !ranges.every(isOffset)) return false
  }
  return true
}

function isOffset(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}
