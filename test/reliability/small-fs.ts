/**
 * A small file system a test can fill: a tmpfs mounted by the test (root, or
 * passwordless sudo), for disk-full cases. `mountSmallFs` says why not when it
 * cannot, so the test can skip with that reason.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/**
 * How to run mount and umount here: directly as root, through `sudo -n`
 * (passwordless, as on CI runners) otherwise, or not at all.
 */
function privilege(): string[] | undefined {
  if (process.getuid?.() === 0) return []
  try {
    execFileSync('sudo', ['-n', 'true'], { stdio: 'pipe' })
    return ['sudo', '-n']
  } catch {
    return undefined
  }
}

export interface SmallFs {
  /** Where it is mounted (undefined when it could not be). */
  dir: string | undefined
  /** Why it could not be mounted. */
  problem: string | undefined
  /** Unmount and remove; safe to call when nothing was mounted. */
  remove(): void
}

/** Mount a tmpfs of `size` (e.g. '8m') owned by this user in a fresh temp dir. */
export function mountSmallFs(prefix: string, size = '8m'): SmallFs {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `skiff-${prefix}-`))
  const mnt = path.join(base, 'mnt')
  fs.mkdirSync(mnt)
  const as = privilege()
  let problem: string | undefined = as ? undefined : 'not root, and no passwordless sudo'
  if (as) {
    const [cmd, ...pre] = [...as, 'mount']
    try {
      execFileSync(cmd!, [...pre, '-t', 'tmpfs', '-o', `size=${size},uid=${process.getuid!()},gid=${process.getgid!()}`, 'tmpfs', mnt], { stdio: 'pipe' })
    } catch (err) {
      problem = `mount failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`
    }
  }
  return {
    dir: problem ? undefined : mnt,
    problem,
    remove() {
      if (!problem) {
        const [cmd, ...pre] = [...as!, 'umount']
        execFileSync(cmd!, [...pre, '-l', mnt])
      }
      fs.rmSync(base, { recursive: true, force: true })
    },
  }
}

/** Fill what is left of the file system holding `file`, to the last byte. */
export function fillUp(file: string): void {
  const fd = fs.openSync(file, 'w')
  try {
    for (let size = 64 * 1024; size >= 1; ) {
      try {
        fs.writeSync(fd, Buffer.alloc(size))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
        size = Math.floor(size / 2)
      }
    }
  } finally {
    fs.closeSync(fd)
  }
}
