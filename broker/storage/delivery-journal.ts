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
 *   8    f64   seq (an integer, as are the f64s below: exact below 2^53)
 *   16   ...   one record per group that delivered:
 *                u16 name length, the name (UTF-8), u32 runs,
 *                runs x (f64 first offset, f64 count): each offset delivered once
 *
 * A fixed binary layout rather than MessagePack: an entry is written every
 * delivering turn, and msgpackr's buffers there cost S1's worker three major
 * GCs per 100,000 messages (callgrind: +20% instructions); this one is
 * written into a reused buffer and allocates nothing.
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
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { fsyncDir, mkdirDurable, writeFully } from './fs-util.js'

const FILE_NAME = /^deliveries\.(\d{20})\.journal$/
const ENTRY_HEADER = 8
/** Longest group name in bytes that a record can carry (names are far shorter: protocol/names.ts). */
const MAX_NAME_BYTES = 0xffff
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
  private pending: (string | number[])[] = []
  /** Where entries are encoded, grown as needed. */
  private scratch = Buffer.allocUnsafe(4096)
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
        for (const [group, ranges] of entry.records) {
          let list = records.get(group)
          if (!list) records.set(group, (list = []))
          list.push({ seq: entry.seq, ranges })
          f.groups.add(group)
        }
        journal.nextSeq = Math.max(journal.nextSeq, entry.seq + 1)
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
    const groups = this.pending
    this.pending = []
    const entry = this.encode(this.nextSeq++, groups)
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

  /**
   * Forget a deleted group: its marks, and its records in every file, so a
   * restart cannot bring it back from the journal (group-recovery.ts recovers
   * a group that has journal records but no state). The current file is
   * closed first; each closed file naming the group is rewritten without it
   * (temp file, fsync, rename, directory fsync), or deleted when nothing else
   * is left in it. Throws fs errors; the group is then still whole on disk.
   */
  forget(group: string): void {
    const pending: (string | number[])[] = []
    for (let i = 0; i < this.pending.length; i += 2) if (this.pending[i] !== group) pending.push(this.pending[i]!, this.pending[i + 1]!)
    this.pending = pending
    this.roll()
    let changed = false
    for (let i = 0; i < this.old.length; i++) {
      const f = this.old[i]!
      if (!f.groups.has(group)) continue
      const kept: Buffer[] = []
      const buf = readFileSync(f.path)
      for (let at = 0; ; ) {
        const entry = readEntry(buf, at)
        if (!entry) break
        at = entry.end
        const others = entry.records.filter(([g]) => g !== group).flat()
        if (others.length > 0) kept.push(Buffer.from(this.encode(entry.seq, others)))
      }
      if (kept.length === 0) unlinkSync(f.path)
      else {
        writeFileSync(f.path + '.tmp', Buffer.concat(kept))
        const fd = openSync(f.path + '.tmp', 'r+')
        try {
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        renameSync(f.path + '.tmp', f.path)
      }
      f.groups.delete(group)
      if (kept.length === 0) this.old.splice(i--, 1)
      changed = true
    }
    if (changed) fsyncDir(this.dir)
    this.marks.delete(group)
  }

  /** Files on disk now (for tests and the recovery summary). */
  get files(): number {
    return this.old.length + (this.current ? 1 : 0)
  }

  close(): void {
    this.roll()
  }

  /** The entry for `records` (group, ranges, ...) in the scratch buffer (valid until the next call). */
  private encode(seq: number, records: (string | number[])[]): Buffer {
    let size = ENTRY_HEADER + 8
    for (let i = 0; i < records.length; i += 2) size += 2 + Buffer.byteLength(records[i] as string) + 4 + 8 * (records[i + 1] as number[]).length
    if (this.scratch.length < size) this.scratch = Buffer.allocUnsafe(Math.max(size, this.scratch.length * 2))
    const b = this.scratch
    let at = ENTRY_HEADER
    b.writeDoubleBE(seq, at)
    at += 8
    for (let i = 0; i < records.length; i += 2) {
      const nameAt = at + 2
      const nameBytes = b.write(records[i] as string, nameAt, 'utf8')
      if (nameBytes > MAX_NAME_BYTES) throw new RangeError(`group name of ${nameBytes} bytes`)
      b.writeUInt16BE(nameBytes, at)
      at = nameAt + nameBytes
      const ranges = records[i + 1] as number[]
      b.writeUInt32BE(ranges.length / 2, at)
      at += 4
      for (const x of ranges) at = b.writeDoubleBE(x, at)
    }
    b.writeUInt32BE(at - ENTRY_HEADER, 0)
    b.writeUInt32BE(crc32(b.subarray(ENTRY_HEADER, at)), 4)
    return b.subarray(0, at)
  }

  private currentFile(): JournalFile {
    if (this.current) return this.current
    if (!this.dirMade) mkdirDurable(this.dir)
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

/** The entry at `at`, or undefined at the end of the file or at damage (a bad CRC, a record that does not fit, a number that is no offset). */
function readEntry(buf: Buffer, at: number): { seq: number; records: [string, number[]][]; end: number } | undefined {
  if (at + ENTRY_HEADER > buf.length) return undefined
  const end = at + ENTRY_HEADER + buf.readUInt32BE(at)
  if (end > buf.length || end < at + ENTRY_HEADER + 8) return undefined
  if (crc32(buf.subarray(at + ENTRY_HEADER, end)) !== buf.readUInt32BE(at + 4)) return undefined
  let p = at + ENTRY_HEADER
  const seq = buf.readDoubleBE(p)
  if (!isOffset(seq)) return undefined
  p += 8
  const records: [string, number[]][] = []
  while (p < end) {
    if (p + 2 > end) return undefined
    const nameEnd = p + 2 + buf.readUInt16BE(p)
    if (nameEnd + 4 > end) return undefined
    const group = buf.toString('utf8', p + 2, nameEnd)
    const runs = buf.readUInt32BE(nameEnd)
    p = nameEnd + 4
    if (p + runs * 16 > end) return undefined
    const ranges: number[] = []
    for (let i = 0; i < runs * 2; i++, p += 8) {
      const x = buf.readDoubleBE(p)
      if (!isOffset(x)) return undefined
      ranges.push(x)
    }
    records.push([group, ranges])
  }
  return { seq, records, end }
}

function isOffset(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}
