/**
 * Lays a disk state (durability-model.ts Tree) out as a real data directory
 * for a broker to start on. The state is built fresh for each start (the
 * broker writes to it), from the bytes the trace recorded.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Tree } from './durability-model.js'

export function materialize(tree: Tree, dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  for (const d of tree.dirs) if (d !== '') fs.mkdirSync(path.join(dir, d), { recursive: true })
  for (const [p, data] of tree.files) fs.writeFileSync(path.join(dir, p), data)
}

/** The tree of a real directory (the initial data dir, before the traced broker starts). Directories come before what they hold. */
export function readTree(dir: string): Tree {
  const tree: Tree = { dirs: [''], files: new Map() }
  const walk = (at: string) => {
    for (const ent of fs.readdirSync(path.join(dir, at), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = at === '' ? ent.name : `${at}/${ent.name}`
      if (ent.isDirectory()) {
        tree.dirs.push(p)
        walk(p)
      } else tree.files.set(p, fs.readFileSync(path.join(dir, p)))
    }
  }
  walk('')
  return tree
}

/** One line per entry, for a report: `topics/a/0/00000000000000000000.log 291 B`. */
export function describeTree(tree: Tree): string[] {
  const out = tree.dirs.filter((d) => d !== '').map((d) => `${d}/`)
  for (const [p, data] of tree.files) out.push(`${p} ${data.length} B`)
  return out.sort()
}
