/**
 * Sparse offset index of one segment: entries of (u32 offset relative to the
 * segment's base, u32 file position of the batch that starts there), both
 * big-endian, one entry every `indexIntervalBytes` of log.
 *
 * The index is a hint, never the truth: the log itself is self-describing, so
 * a missing, short or inconsistent index is rebuilt by scanning the segment,
 * and an entry is used only once the batch it points at checks (magic, CRC,
 * base offset = the entry's offset: BatchCursor.startsWith). An entry that
 * fails is never trusted to skip records or to report damage; the index is
 * rebuilt by a scan instead (recovery.ts, index-trust.ts).
 * That is why the active segment's index is written (not fsynced) on every
 * sync() and fsynced only when the segment is rolled or closed: after a crash,
 * recovery checks the last segment's index against the log anyway.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs'

export const INDEX_ENTRY_BYTES = 8

export interface LoadedIndex {
  index: OffsetIndex
  /** False when the file had entries that were out of order, out of range or torn (they were dropped). */
  clean: boolean
  /** How many whole entries of the file were dropped. */
  dropped: number
}

export class OffsetIndex {
  private rels = new Uint32Array(64)
  private positions = new Uint32Array(64)
  private count = 0
  /** Entries [0, written) are in the file. */
  private written = 0
  private fd: number | undefined

  constructor(readonly path: string) {}

  /**
   * Read an index file, keeping the longest prefix of entries that increase
   * strictly in both offset and position, with positions below `logSize` and
   * offsets below `maxRelative`. Returns undefined when the file is missing.
   */
  static load(path: string, logSize: number, maxRelative: number): LoadedIndex | undefined {
    if (!existsSync(path)) return undefined
    const buf = readFileSync(path)
    const idx = new OffsetIndex(path)
    const whole = buf.length - (buf.length % INDEX_ENTRY_BYTES)
    let clean = whole === buf.length
    for (let at = 0; at < whole; at += INDEX_ENTRY_BYTES) {
      const rel = buf.readUInt32BE(at)
      const pos = buf.readUInt32BE(at + 4)
      const n = idx.count
      const ordered = n === 0 || (rel > idx.rels[n - 1]! && pos > idx.positions[n - 1]!)
      if (!ordered || pos >= logSize || rel > maxRelative) {
        clean = false
        break
      }
      idx.add(rel, pos)
    }
    idx.written = idx.count
    if (idx.count * INDEX_ENTRY_BYTES !== buf.length) clean = false
    return { index: idx, clean, dropped: whole / INDEX_ENTRY_BYTES - idx.count }
  }

  get length(): number {
    return this.count
  }

  relativeAt(i: number): number {
    return this.rels[i]!
  }

  positionAt(i: number): number {
    return this.positions[i]!
  }

  add(relative: number, position: number): void {
    if (this.count === this.rels.length) {
      const rels = new Uint32Array(this.count * 2)
      const positions = new Uint32Array(this.count * 2)
      rels.set(this.rels)
      positions.set(this.positions)
      this.rels = rels
      this.positions = positions
    }
    this.rels[this.count] = relative
    this.positions[this.count] = position
    this.count++
  }

  /**
   * Add an entry for the batch at `position` when it starts at least
   * `intervalBytes` past the last entry (or past the start of the file).
   * Appends and index rebuilds both use this, so they produce the same index.
   */
  addIfDue(relative: number, position: number, intervalBytes: number): boolean {
    const n = this.count
    const lastPosition = n > 0 ? this.positions[n - 1]! : 0
    if (position === 0 || position - lastPosition < intervalBytes) return false
    if (n > 0 && relative <= this.rels[n - 1]!) return false
    this.add(relative, position)
    return true
  }

  /** Index of the last entry whose relative offset is <= `relative`, or -1. */
  floorEntry(relative: number): number {
    let lo = 0
    let hi = this.count - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.rels[mid]! <= relative) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }

  /** Keep only the first `n` entries (in memory; call rewrite() to make the file agree). */
  truncate(n: number): void {
    this.count = Math.min(this.count, n)
    this.written = Math.min(this.written, this.count)
  }

  /** Replace the file with the entries in memory and fsync it. */
  rewrite(): void {
    this.closeFd()
    writeFileSync(this.path, this.encode(0, this.count))
    const fd = openSync(this.path, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    this.written = this.count
  }

  /** Append the entries not yet in the file (no fsync). */
  flush(): void {
    if (this.written === this.count) return
    this.fd ??= openSync(this.path, 'a')
    const buf = this.encode(this.written, this.count)
    let done = 0
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done)
    this.written = this.count
  }

  /** Flush, fsync and close the file handle (the entries stay in memory). */
  seal(): void {
    this.flush()
    if (this.fd !== undefined) fsyncSync(this.fd)
    this.closeFd()
  }

  closeFd(): void {
    if (this.fd === undefined) return
    closeSync(this.fd)
    this.fd = undefined
  }

  private encode(from: number, to: number): Buffer {
    const buf = Buffer.allocUnsafe((to - from) * INDEX_ENTRY_BYTES)
    for (let i = from; i < to; i++) {
      buf.writeUInt32BE(this.rels[i]!, (i - from) * INDEX_ENTRY_BYTES)
      buf.writeUInt32BE(this.positions[i]!, (i - from) * INDEX_ENTRY_BYTES + 4)
    }
    return buf
  }
}
