/**
 * Small synchronous file helpers for the storage engine. The engine runs on a
 * worker thread that owns its partitions and is allowed to block on disk, so
 * every call here is a plain *Sync call: no promises, no thread-pool hops.
 * The gateway, which must not block, has the async twins of the directory
 * helpers (it creates topics).
 *
 * Why directories are fsynced: fsync on a file makes its data and size
 * durable, not its name. A file created, renamed or unlinked (and a directory
 * made) is durable only once the directory holding the name is fsynced; after
 * a power loss before that, the name can be gone (a new topic.json, a new
 * segment) or back (a deleted segment). Every create, rename or unlink that a
 * confirm or a topic's existence depends on is followed by fsyncDir of its
 * parent before anyone is told it happened.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, promises as fsp, readSync, writeSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

/** fsync a directory so a create, rename or unlink inside it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

export async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** `dir` and those of its ancestors that do not exist, outermost first. */
function missingLevels(dir: string): string[] {
  const missing: string[] = []
  // Bounded by the depth of the path: dirname of the root is the root.
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.unshift(d)
    if (dirname(d) === d) break
  }
  return missing
}

/**
 * mkdir -p that makes each new directory's name durable: after creating a
 * level it fsyncs the parent. A level that someone else created meanwhile
 * (EEXIST) gets its parent fsynced too, since we are about to rely on it.
 * Returns the outermost directory this call created, or undefined when it
 * created none, so a caller that fails later can take back what it made.
 */
export function mkdirDurable(dir: string): string | undefined {
  let created: string | undefined
  for (const level of missingLevels(dir)) {
    try {
      mkdirSync(level)
      created ??= level
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    fsyncDir(dirname(level))
  }
  return created
}

/** mkdirDurable for the gateway: the same steps without blocking its thread. */
export async function mkdirDurableAsync(dir: string): Promise<string | undefined> {
  let created: string | undefined
  for (const level of missingLevels(dir)) {
    try {
      await fsp.mkdir(level)
      created ??= level
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    await fsyncDirAsync(dirname(level))
  }
  return created
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

/** Write `file` to `path` whole and fsync it (the caller renames it into place and fsyncs the directory). */
export function writeSynced(path: string, file: Uint8Array): void {
  const fd = openSync(path, 'w')
  try {
    writeFully(fd, file, 0)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
