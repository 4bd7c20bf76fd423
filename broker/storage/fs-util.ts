/**
 * Small synchronous file helpers for the storage engine. The engine runs on a
 * worker thread that owns its partitions and is allowed to block on disk, so
 * every call here is a plain *Sync call: no promises, no thread-pool hops.
 */
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs'

/** fsync a directory so a create, rename or unlink inside it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Write all of `buf` at `position`, looping over short writes. */
export function writeFully(fd: number, buf: Uint8Array, position: number): void {
  let done = 0
  while (done < buf.length) {
    done += writeSync(fd, buf, done, buf.length - done, position + done)
  }
}

/**
 * Read up to `length` bytes at `position` into a fresh buffer. Returns a
 * shorter buffer at end of file. The buffer is never reused, so views into it
 * can be handed to callers.
 */
export function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length)
  let got = 0
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got)
    if (n === 0) break
    got += n
  }
  return got === length ? buf : buf.subarray(0, got)
}
