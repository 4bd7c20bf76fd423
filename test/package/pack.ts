/**
 * The package as npm publishes it: `npm pack` of the built repository (run
 * `npm run build` first; --ignore-scripts keeps `prepare` from building again),
 * and a scratch project outside the repository that installs that tarball the
 * way a user does. Outside, so that Node and TypeScript resolve nothing from the
 * repository's own node_modules: only `files`, `exports` and the dependencies
 * that npm installed are there to be found.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc')
export const NODE_TYPES = path.join(ROOT, 'node_modules/@types')

export interface PackedFile {
  path: string
  size: number
}

interface PackResult {
  filename: string
  files: PackedFile[]
}

function npmPack(args: string[]): PackResult {
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 })
  return (JSON.parse(out) as PackResult[])[0]!
}

/** The paths `npm publish` would put in the package. */
export function packedFiles(): string[] {
  return npmPack(['--dry-run']).files.map((f) => f.path)
}

export interface Scratch {
  dir: string
  /** How the package got there: 'npm install' (from the tarball, offline) or 'extracted' (no npm cache here). */
  installedBy: 'npm install' | 'extracted'
  remove(): void
}

/**
 * A scratch project in the system's temp dir with skiffmq installed from its
 * tarball without optional dependencies (`npm install --omit=optional`, offline:
 * this machine reaches no registry but npm's cache has msgpackr once the
 * repository was installed). Where npm cannot do that (an empty cache), the
 * tarball is extracted into node_modules/skiffmq and msgpackr linked from the
 * repository, which is what npm would have produced.
 */
export function scratchInstall(): Scratch {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-package-'))
  const remove = () => fs.rmSync(dir, { recursive: true, force: true })
  try {
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'skiff-scratch', private: true }, null, 2))
    const tarball = path.join(dir, npmPack(['--pack-destination', dir]).filename)
    try {
      execFileSync('npm', ['install', '--offline', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', tarball], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 120_000,
      })
      return { dir, installedBy: 'npm install', remove }
    } catch {
      const pkg = path.join(dir, 'node_modules/skiffmq')
      fs.mkdirSync(pkg, { recursive: true })
      execFileSync('tar', ['-xzf', tarball, '-C', pkg, '--strip-components=1'])
      fs.symlinkSync(path.join(ROOT, 'node_modules/msgpackr'), path.join(dir, 'node_modules/msgpackr'), 'dir')
      return { dir, installedBy: 'extracted', remove }
    }
  } catch (err) {
    remove()
    throw err
  }
}
