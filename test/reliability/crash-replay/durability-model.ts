/**
 * What a power loss can leave of a data directory, given the file operations
 * (fs-ops.ts) that ran in it. The model is the conservative one ALICE
 * (Pillai et al., OSDI 2014) uses to find bugs independent of any one file
 * system's strengths (ext4's data=ordered, say): it assumes only what POSIX
 * and Linux fsync promise.
 *
 * Rules of the durable model (the `durable` view):
 *  1. The data directory and everything in it when the trace starts are durable.
 *  2. Bytes written to a file (write, pwrite64, writev, ftruncate, open with
 *     O_TRUNC) are durable only once an fsync or fdatasync of that file has
 *     completed; that call makes the file's whole content and size as they
 *     are at that moment durable. fdatasync counts as fsync: it keeps the
 *     data and the size needed to read it, and nothing here reads other metadata.
 *  3. A change of a name in a directory (a file created by open with O_CREAT,
 *     mkdir, rename, unlink, rmdir) is durable only once an fsync of that
 *     directory has completed; that call makes all the directory's entries as
 *     they are at that moment durable. A rename between two directories needs
 *     both; each side becomes durable on its own.
 *  4. An fsync of a file makes nothing about its name durable; an fsync of a
 *     directory makes nothing durable about the files it names, nor about its
 *     own name in its parent.
 *  5. The disk a power loss leaves: start at the data directory, follow only
 *     durable entries, and give each file its durable content. A file reached
 *     by a durable name whose content was never synced is empty.
 *  6. An operation counts when it completes (where strace prints its result).
 *
 * The other view of the same operations:
 *  - `written`: every completed operation, synced or not. A process crash
 *    (SIGKILL) leaves this, since the kernel keeps its page cache, and so does
 *    a power loss on a file system that happened to write everything back.
 */
import { createHash } from 'node:crypto'
import type { FsOp } from './fs-ops.js'

export type View = 'durable' | 'written'

interface FileNode {
  kind: 'file'
  data: Buffer
  synced: Buffer
}

interface DirNode {
  kind: 'dir'
  entries: Map<string, Node>
  synced: Map<string, Node>
  /** The operation that last changed each name (pending() names it). */
  changedBy: Map<string, FsOp>
}

type Node = FileNode | DirNode

/** A disk state: directories and files by path relative to the data dir ('' is the dir). */
export interface Tree {
  dirs: string[]
  files: Map<string, Buffer>
}

/** A name whose last change is not durable yet. */
export interface PendingEntry {
  /** Path of the name, relative to the data dir. */
  path: string
  op: FsOp
}

/** Stands for "the initial state" where a report names an operation. */
const SEED: FsOp = { kind: 'mkdir', path: '', seq: -1, line: 0, text: 'initial data dir' }

export class DurabilityModel {
  private readonly root: DirNode = newDir()
  private readonly handles = new Map<number, { node: Node; position: number; append: boolean }>()

  /** Rule 1: the data dir as it was when the trace started (replayer.ts readTree); all of it is durable. */
  seed(initial: Tree): void {
    for (const d of initial.dirs) {
      if (d === '') continue
      const { dir, name } = this.parentOf(d, SEED)
      const node = newDir()
      dir.entries.set(name, node)
      dir.synced.set(name, node)
    }
    for (const [p, data] of initial.files) {
      const { dir, name } = this.parentOf(p, SEED)
      const node: FileNode = { kind: 'file', data, synced: data }
      dir.entries.set(name, node)
      dir.synced.set(name, node)
    }
  }

  apply(op: FsOp): void {
    switch (op.kind) {
      case 'open': {
        const { dir, name } = this.parentOf(op.path, op)
        let node = name === '' ? this.root : dir.entries.get(name)
        if (!node) {
          if (!op.create) throw new Error(`trace line ${op.line}: ${op.path} opened but the model has no such file`)
          node = { kind: 'file', data: Buffer.alloc(0), synced: Buffer.alloc(0) }
          this.setEntry(dir, name, node, op)
        } else if (op.truncate && node.kind === 'file') node.data = Buffer.alloc(0)
        this.handles.set(op.handle, { node, position: 0, append: op.append })
        break
      }
      case 'write': {
        const h = this.handle(op.handle, op)
        const file = asFile(h.node, op)
        const at = h.append ? file.data.length : op.position ?? h.position
        file.data = writeAt(file.data, at, op.data)
        if (op.position === undefined || h.append) h.position = at + op.data.length
        break
      }
      case 'seek':
        this.handle(op.handle, op).position = op.position
        break
      case 'truncate': {
        const file = asFile(this.handle(op.handle, op).node, op)
        file.data = resize(file.data, op.size)
        break
      }
      case 'truncate-path': {
        const { dir, name } = this.parentOf(op.path, op)
        const file = asFile(dir.entries.get(name), op)
        file.data = resize(file.data, op.size)
        break
      }
      case 'sync': {
        const node = this.handle(op.handle, op).node
        if (node.kind === 'file') node.synced = node.data
        else node.synced = new Map(node.entries)
        break
      }
      case 'close':
        this.handles.delete(op.handle)
        break
      case 'mkdir': {
        const { dir, name } = this.parentOf(op.path, op)
        this.setEntry(dir, name, newDir(), op)
        break
      }
      case 'rename': {
        const from = this.parentOf(op.from, op)
        const to = this.parentOf(op.to, op)
        const node = from.dir.entries.get(from.name)
        if (!node) throw new Error(`trace line ${op.line}: rename of ${op.from}, which the model does not have`)
        this.setEntry(from.dir, from.name, undefined, op)
        this.setEntry(to.dir, to.name, node, op)
        break
      }
      case 'unlink':
      case 'rmdir': {
        const { dir, name } = this.parentOf(op.path, op)
        this.setEntry(dir, name, undefined, op)
        break
      }
    }
  }

  /** The disk state of a view (rules 5; `written`: everything). */
  tree(view: View): Tree {
    const out: Tree = { dirs: [''], files: new Map() }
    const durable = view !== 'written'
    const walk = (dir: DirNode, at: string) => {
      for (const [name, node] of [...(durable ? dir.synced : dir.entries)].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const p = at === '' ? name : `${at}/${name}`
        if (node.kind === 'dir') {
          out.dirs.push(p)
          walk(node, p)
        } else out.files.set(p, durable ? node.synced : node.data)
      }
    }
    walk(this.root, '')
    return out
  }

  /** Current content of a file by its (current) name, or undefined. */
  contentOf(p: string): Buffer | undefined {
    let node: Node | undefined = this.root
    for (const part of p.split('/')) node = node?.kind === 'dir' ? node.entries.get(part) : undefined
    return node?.kind === 'file' ? node.data : undefined
  }

  /** Names (reachable through current names) whose last change is not durable: what a sync would still have to cover. */
  pending(): PendingEntry[] {
    const out: PendingEntry[] = []
    const walk = (dir: DirNode, at: string) => {
      for (const [name, op] of dir.changedBy) {
        if (dir.entries.get(name) !== dir.synced.get(name)) out.push({ path: at === '' ? name : `${at}/${name}`, op })
      }
      for (const [name, node] of dir.entries) if (node.kind === 'dir') walk(node, at === '' ? name : `${at}/${name}`)
    }
    walk(this.root, '')
    return out.sort((a, b) => a.op.seq - b.op.seq)
  }

  private setEntry(dir: DirNode, name: string, node: Node | undefined, op: FsOp): void {
    if (node) dir.entries.set(name, node)
    else dir.entries.delete(name)
    dir.changedBy.set(name, op)
  }

  private parentOf(p: string, op: FsOp): { dir: DirNode; name: string } {
    if (p === '') return { dir: this.root, name: '' }
    const parts = p.split('/')
    let dir: DirNode = this.root
    for (const part of parts.slice(0, -1)) {
      const next = dir.entries.get(part)
      if (next?.kind !== 'dir') throw new Error(`trace line ${op.line}: ${op.text}: the model has no directory ${part} on the way`)
      dir = next
    }
    return { dir, name: parts[parts.length - 1]! }
  }

  private handle(handle: number, op: FsOp): { node: Node; position: number; append: boolean } {
    const h = this.handles.get(handle)
    if (!h) throw new Error(`trace line ${op.line}: ${op.text} on a handle the model does not know`)
    return h
  }
}

function newDir(): DirNode {
  return { kind: 'dir', entries: new Map(), synced: new Map(), changedBy: new Map() }
}

function asFile(node: Node | undefined, op: FsOp): FileNode {
  if (node?.kind !== 'file') throw new Error(`trace line ${op.line}: ${op.text} needs a file`)
  return node
}

/** A new buffer: `data` with `bytes` written at `at` (zeros fill a gap). Buffers are never changed in place, so synced copies stay as they were. */
function writeAt(data: Buffer, at: number, bytes: Buffer): Buffer {
  const out = Buffer.alloc(Math.max(data.length, at + bytes.length))
  data.copy(out, 0)
  bytes.copy(out, at)
  return out
}

function resize(data: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size)
  data.copy(out, 0, 0, Math.min(size, data.length))
  return out
}

/** A digest of a disk state: equal trees replay the same, so each is started once. */
export function treeHash(tree: Tree): string {
  const h = createHash('sha256')
  for (const d of tree.dirs) h.update(`d ${d}\n`)
  for (const [p, data] of [...tree.files].sort(([a], [b]) => (a < b ? -1 : 1))) h.update(`f ${p} ${createHash('sha256').update(data).digest('hex')}\n`)
  return h.digest('hex').slice(0, 16)
}
