/**
 * From system calls (trace-parser.ts) to what they did inside one data
 * directory, and the bytes the broker wrote to its TCP connections.
 *
 * - Paths become relative to the data dir ('' is the dir itself); calls on
 *   anything outside it are dropped, as are failed calls (a mkdir that met
 *   EEXIST changed nothing).
 * - A descriptor opened on a file in the data dir becomes a numbered handle,
 *   so later writes and syncs name the file they reach even after a rename
 *   or an unlink; the descriptor number alone would not (numbers are reused).
 * - A write to a descriptor we did not see opened, whose annotation is in
 *   the data dir, throws: the trace would be incomplete.
 *
 * The broker is one process: all its threads share one descriptor table, so
 * one table serves the whole trace.
 */
import path from 'node:path'
import { fdArg, pathArg, type Syscall } from './trace-parser.js'

interface Base {
  /** The call's index in the trace (Syscall.seq): orders file operations and socket writes together. */
  seq: number
  /** Trace line, for reports. */
  line: number
  /** The call as a report shows it, e.g. `fdatasync(topics/a/0/00000000000000000000.log)`. */
  text: string
}

export type FsOp = Base &
  (
    | { kind: 'open'; handle: number; path: string; create: boolean; truncate: boolean; append: boolean }
    | { kind: 'write'; handle: number; position: number | undefined; data: Buffer }
    | { kind: 'seek'; handle: number; position: number }
    | { kind: 'truncate'; handle: number; size: number }
    | { kind: 'truncate-path'; path: string; size: number }
    | { kind: 'sync'; handle: number; call: 'fsync' | 'fdatasync' }
    | { kind: 'close'; handle: number }
    | { kind: 'mkdir'; path: string }
    | { kind: 'rename'; from: string; to: string }
    | { kind: 'unlink'; path: string }
    | { kind: 'rmdir'; path: string }
  )

/** Bytes the broker wrote to one TCP connection (`stream` names it by its addresses). */
export interface SocketWrite {
  seq: number
  line: number
  stream: string
  data: Buffer
}

export interface TracedIo {
  ops: FsOp[]
  sockets: SocketWrite[]
}

export function fsOpsOf(calls: Syscall[], dataDir: string): TracedIo {
  const root = path.resolve(dataDir)
  const ops: FsOp[] = []
  const sockets: SocketWrite[] = []
  /** fd -> handle, for descriptors on files in the data dir. */
  const handles = new Map<number, { handle: number; path: string }>()
  let nextHandle = 1

  const inside = (p: string): string | undefined => {
    const rel = path.relative(root, p)
    return rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel
  }
  /** Resolve a path argument against its dirfd argument (AT_FDCWD or a directory fd with its annotation). */
  const resolve = (dirArg: string | undefined, p: string): string => {
    if (path.isAbsolute(p)) return path.normalize(p)
    const dir = dirArg === undefined ? undefined : fdArg(dirArg).annotation
    if (dir === undefined) throw new Error(`relative path ${p} without a directory annotation`)
    return path.resolve(dir, p)
  }
  const handleOf = (c: Syscall): { handle: number; path: string } | undefined => {
    const { fd, annotation } = fdArg(c.args[0]!)
    const h = handles.get(fd)
    if (!h && annotation !== undefined && inside(annotation.replace(/ \(deleted\)$/, '')) !== undefined) {
      throw new Error(`trace line ${c.line}: ${c.name} on ${annotation}, a descriptor the trace never showed opened`)
    }
    return h
  }
  const push = (c: Syscall, op: DistributiveOmit<FsOp, 'seq' | 'line' | 'text'>, text: string) =>
    ops.push({ ...op, seq: c.seq, line: c.line, text } as FsOp)

  for (const c of calls) {
    if (c.result < 0) continue
    switch (c.name) {
      case 'open':
      case 'openat': {
        const [dirArg, pArg, flagsArg] = c.name === 'open' ? [undefined, c.args[0]!, c.args[1]!] : [c.args[0], c.args[1]!, c.args[2]!]
        const full = resolve(dirArg, pathArg(pArg))
        const rel = inside(full)
        handles.delete(c.result) // a number we saw closed by other means is free again
        if (rel === undefined) break
        const flags = new Set(flagsArg.split('|'))
        const handle = nextHandle++
        handles.set(c.result, { handle, path: rel })
        push(c, { kind: 'open', handle, path: rel, create: flags.has('O_CREAT'), truncate: flags.has('O_TRUNC'), append: flags.has('O_APPEND') }, `open(${rel || '.'}, ${flagsArg})`)
        break
      }
      case 'write':
      case 'writev':
      case 'pwrite64':
      case 'pwritev':
      case 'pwritev2': {
        const { annotation } = fdArg(c.args[0]!)
        if (annotation && /^TCP(v6)?:\[/.test(annotation)) {
          if (c.data) sockets.push({ seq: c.seq, line: c.line, stream: annotation, data: c.data })
          break
        }
        const h = handleOf(c)
        if (!h) break
        if (!c.data) throw new Error(`trace line ${c.line}: ${c.name} to ${h.path} has no data dump (was the trace taken with -e write=all?)`)
        // pwrite64(fd, buf, n, pos), pwritev(fd, iov, cnt, pos), pwritev2(fd, iov, cnt, pos, flags); pos -1: the file position
        const at = c.name.startsWith('pwrite') ? Number(c.args[3]) : -1
        const position = at >= 0 ? at : undefined
        push(c, { kind: 'write', handle: h.handle, position, data: c.data }, `${c.name}(${h.path}, ${c.result} bytes${position === undefined ? '' : ` at ${position}`})`)
        break
      }
      case 'lseek': {
        const h = handleOf(c)
        if (h) push(c, { kind: 'seek', handle: h.handle, position: c.result }, `lseek(${h.path}, ${c.result})`)
        break
      }
      case 'ftruncate': {
        const h = handleOf(c)
        if (h) push(c, { kind: 'truncate', handle: h.handle, size: Number(c.args[1]) }, `ftruncate(${h.path}, ${c.args[1]})`)
        break
      }
      case 'truncate': {
        const rel = inside(resolve(undefined, pathArg(c.args[0]!)))
        if (rel !== undefined) push(c, { kind: 'truncate-path', path: rel, size: Number(c.args[1]) }, `truncate(${rel}, ${c.args[1]})`)
        break
      }
      case 'fsync':
      case 'fdatasync': {
        const h = handleOf(c)
        if (h) push(c, { kind: 'sync', handle: h.handle, call: c.name }, `${c.name}(${h.path || '.'})`)
        break
      }
      case 'close': {
        const { fd } = fdArg(c.args[0]!)
        const h = handles.get(fd)
        handles.delete(fd)
        if (h) push(c, { kind: 'close', handle: h.handle }, `close(${h.path || '.'})`)
        break
      }
      case 'mkdir':
      case 'mkdirat': {
        const full = c.name === 'mkdir' ? resolve(undefined, pathArg(c.args[0]!)) : resolve(c.args[0], pathArg(c.args[1]!))
        const rel = inside(full)
        if (rel) push(c, { kind: 'mkdir', path: rel }, `mkdir(${rel})`)
        break
      }
      case 'rename':
      case 'renameat':
      case 'renameat2': {
        const [from, to] = c.name === 'rename'
          ? [resolve(undefined, pathArg(c.args[0]!)), resolve(undefined, pathArg(c.args[1]!))]
          : [resolve(c.args[0], pathArg(c.args[1]!)), resolve(c.args[2], pathArg(c.args[3]!))]
        const relFrom = inside(from)
        const relTo = inside(to)
        if (relFrom === undefined && relTo === undefined) break
        if (relFrom === undefined || relTo === undefined) throw new Error(`trace line ${c.line}: a rename across the data dir's edge (${from} -> ${to})`)
        if (c.name === 'renameat2' && c.args[4] && c.args[4] !== '0') throw new Error(`trace line ${c.line}: renameat2 flags ${c.args[4]} are not modelled`)
        push(c, { kind: 'rename', from: relFrom, to: relTo }, `rename(${relFrom}, ${relTo})`)
        break
      }
      case 'unlink':
      case 'unlinkat':
      case 'rmdir': {
        const full = c.name === 'unlinkat' ? resolve(c.args[0], pathArg(c.args[1]!)) : resolve(undefined, pathArg(c.args[0]!))
        const rel = inside(full)
        if (!rel) break
        const isDir = c.name === 'rmdir' || (c.name === 'unlinkat' && (c.args[2] ?? '').includes('AT_REMOVEDIR'))
        push(c, isDir ? { kind: 'rmdir', path: rel } : { kind: 'unlink', path: rel }, `${isDir ? 'rmdir' : 'unlink'}(${rel})`)
        break
      }
      default:
        break
    }
  }
  return { ops, sockets }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** Is this operation a point where what is durable can change (a sync), or a name change (a rename)? */
export function isBoundary(op: FsOp): boolean {
  return op.kind === 'sync' || op.kind === 'rename'
}
