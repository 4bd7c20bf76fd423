/**
 * One segment of a partition log: a `.log` file of batches laid end to end and
 * its sparse `.idx`. Holds the file handle and what is known about the file
 * (size, newest batch timestamp, damage found in it); the partition log decides
 * when to roll, read or delete.
 *
 * Only the active (last) segment is open for writing. Older segments open
 * read-only on demand; their index is loaded on demand too, and both are
 * dropped again when the partition log closes the handle, so a partition with
 * many segments holds only a few handles and index tables at a time.
 */
import { closeSync, constants, fdatasync, fdatasyncSync, ftruncateSync, openSync, statSync, unlinkSync } from 'node:fs'
import { basename } from 'node:path'
import type { Damage } from './batch-cursor.js'
import { writeFully } from './fs-util.js'
import { OffsetIndex } from './index-file.js'
import { segmentPaths } from './segment-files.js'

export class Segment {
  readonly logPath: string
  readonly indexPath: string
  /** File name of the log, as reported in CorruptRange.segment. */
  readonly name: string
  /** Newest batch timestamp in the segment, or -1 when it holds no readable batch. */
  lastTimestamp = -1
  /** Leader epoch of the last good batch recovery found in it (the active segment at open), or -1. */
  lastEpoch = -1
  /** Damage found in this file, by position, so it is scanned and reported once. */
  readonly damage = new Map<number, Damage>()
  /** Loaded index, or undefined until someone needs it. */
  index: OffsetIndex | undefined
  private handle: number | undefined
  private dirty = false
  /** fdatasyncs running on the libuv pool (syncAsync). */
  private syncsInFlight = 0
  /**
   * Handles closed while an fdatasync on them was still running: they are
   * closed when the last one ends, so the number is never reused (and the
   * sync aimed at another file) while the pool still holds it.
   */
  private closeAfterSyncs: number[] = []

  constructor(
    dir: string,
    readonly base: number,
    public size: number,
    private writable: boolean,
  ) {
    const paths = segmentPaths(dir, base)
    this.logPath = paths.log
    this.indexPath = paths.index
    this.name = basename(paths.log)
  }

  /** Create an empty segment file (and an empty index) for writing. */
  static create(dir: string, base: number): Segment {
    const seg = new Segment(dir, base, 0, true)
    seg.handle = openSync(seg.logPath, constants.O_RDWR | constants.O_CREAT, 0o644)
    seg.index = new OffsetIndex(seg.indexPath)
    seg.index.rewrite()
    return seg
  }

  /** A segment found on disk; its size is what the file holds now. */
  static existing(dir: string, base: number, writable: boolean): Segment {
    const seg = new Segment(dir, base, 0, writable)
    seg.size = statSync(seg.logPath).size
    return seg
  }

  get isOpen(): boolean {
    return this.handle !== undefined
  }

  get fd(): number {
    this.handle ??= openSync(this.logPath, this.writable ? constants.O_RDWR : constants.O_RDONLY)
    return this.handle
  }

  /**
   * Write a batch at the end of the file (no fsync). A failed write is cut
   * back off, so the file never keeps half a batch that we did not report.
   */
  append(batch: Buffer, baseOffset: number, timestamp: number, indexIntervalBytes: number): void {
    const index = this.index!
    const entriesBefore = index.length
    index.addIfDue(baseOffset - this.base, this.size, indexIntervalBytes)
    try {
      writeFully(this.fd, batch, this.size)
    } catch (err) {
      index.truncate(entriesBefore)
      try {
        ftruncateSync(this.fd, this.size)
      } catch {
        // The write error is the one worth reporting; recovery cuts any partial batch at the next open.
      }
      throw err
    }
    this.size += batch.length
    this.lastTimestamp = Math.max(this.lastTimestamp, timestamp)
    this.dirty = true
  }

  get needsSync(): boolean {
    return this.dirty
  }

  /** Make the appended batches durable: write new index entries, fdatasync the log. */
  sync(force = false): void {
    // A sync still running on the pool has not made anything durable yet: this one waits for the disk itself.
    if (!this.dirty && !force && this.syncsInFlight === 0) return
    this.flushIndex()
    fdatasyncSync(this.fd)
    this.dirty = false
  }

  /**
   * The same as sync(), with the fdatasync on the libuv pool: the worker's
   * event loop goes on (appending, delivering, answering) while the disk
   * works. What is appended after this call is not covered; the caller keeps
   * track of which offsets a completed sync covers (PartitionLog.syncAsync).
   * A failed sync leaves the segment marked dirty, so the next one tries again.
   */
  syncAsync(done: (err: NodeJS.ErrnoException | null) => void): void {
    this.flushIndex()
    const fd = this.fd
    this.dirty = false
    this.syncsInFlight++
    fdatasync(fd, (err) => {
      this.syncsInFlight--
      if (this.syncsInFlight === 0) this.closeOrphans()
      if (err) this.dirty = true
      done(err)
    })
  }

  private flushIndex(): void {
    try {
      this.index?.flush()
    } catch {
      // The index is a hint (see index-file.ts): entries not written stay in memory and are
      // written by a later flush; recovery rebuilds a short or torn index file. A full disk
      // must not keep the log's own fdatasync, the one durability depends on, from running.
    }
  }

  private closeOrphans(): void {
    for (const fd of this.closeAfterSyncs.splice(0)) {
      try {
        closeSync(fd)
      } catch {
        // Nothing is waiting on this handle any more; a failed close loses nothing.
      }
    }
  }

  /** Stop writing to this segment: sync it, fsync its index, and reopen read-only when next needed. */
  seal(): void {
    this.sync()
    this.index?.seal()
    this.closeFd()
    this.writable = false
  }

  /** Make a sealed segment the one written to again (a follower truncating back into it). */
  reopenWritable(): void {
    if (this.writable) return
    this.closeFd()
    this.writable = true
  }

  /** Cut the file at `position` (recovery of a damaged tail). */
  truncate(position: number): void {
    ftruncateSync(this.fd, position)
    fdatasyncSync(this.fd)
    this.size = position
  }

  closeFd(): void {
    this.index?.closeFd()
    if (this.handle === undefined) return
    if (this.syncsInFlight > 0) this.closeAfterSyncs.push(this.handle)
    else closeSync(this.handle)
    this.handle = undefined
  }

  /** Close and remove both files (retention). */
  delete(): void {
    this.closeFd()
    unlinkSync(this.logPath)
    try {
      unlinkSync(this.indexPath)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
}
