/**
 * package-lock.json is complete and in step with package.json, so that a fresh
 * `npm install` (the Dockerfile and .ci/run use it) installs what the lock
 * names and leaves the file unchanged, and `npm ci` accepts it. The lock once
 * lacked msgpackr-extract's optional native packages for other platforms
 * (darwin, win32, linux-arm): every fresh install on Linux x64 added them back
 * and rewrote the file. Reading the files is enough to see both faults; no
 * install is run here.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { repoRoot } from './dockerfile.js'

type Deps = Record<string, string>
interface LockedPackage {
  name?: string
  version?: string
  dependencies?: Deps
  optionalDependencies?: Deps
  devDependencies?: Deps
  peerDependencies?: Deps
}
interface Lock {
  name: string
  version: string
  lockfileVersion: number
  packages: Record<string, LockedPackage>
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(repoRoot, file), 'utf8'))
const pkg = readJson('package.json') as LockedPackage
const lock = readJson('package-lock.json') as Lock

/**
 * The locked entry a package at `from` (a `packages` key, '' for the root) gets
 * for `name`, found as Node finds it: its own node_modules, then each
 * enclosing one up to the root's.
 */
function resolve(packages: Lock['packages'], from: string, name: string): string | undefined {
  let dir = from
  for (;;) {
    const key = `${dir ? `${dir}/` : ''}node_modules/${name}`
    if (packages[key]) return key
    if (!dir) return undefined
    const cut = dir.lastIndexOf('/node_modules/')
    dir = cut === -1 ? '' : dir.slice(0, cut)
  }
}

/** `from -> name` for every dependency or optional dependency of a locked package that has no entry. */
function missingEntries(packages: Lock['packages']): string[] {
  const missing: string[] = []
  for (const [key, entry] of Object.entries(packages)) {
    if (key !== '' && !key.includes('node_modules/')) continue // a workspace link target: none here
    const wanted = { ...entry.dependencies, ...entry.optionalDependencies, ...(key === '' ? entry.devDependencies : {}) }
    for (const name of Object.keys(wanted)) if (!resolve(packages, key, name)) missing.push(`${key || '(root)'} -> ${name}`)
  }
  return missing
}

t.test("the lock's root entry is package.json: name, version and every dependency range", async (t) => {
  t.equal(lock.lockfileVersion, 3, 'lockfileVersion 3 (npm 9 and later)')
  t.equal(lock.name, pkg.name)
  t.equal(lock.version, pkg.version)
  const root = lock.packages['']
  t.equal(root.name, pkg.name)
  t.equal(root.version, pkg.version)
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'] as const) {
    t.same(root[field] ?? {}, pkg[field] ?? {}, `${field} in package-lock.json match package.json (run npm install after editing them)`)
  }
})

t.test('every dependency of every locked package, optional ones for other platforms too, has its own entry', async (t) => {
  t.same(missingEntries(lock.packages), [])
})

t.test('the completeness check is live: a lock without one of the optional native packages fails it', async (t) => {
  const key = 'node_modules/@msgpackr-extract/msgpackr-extract-darwin-arm64'
  t.ok(lock.packages[key], `${key} is locked`)
  const trimmed = { ...lock.packages }
  delete trimmed[key]
  t.same(missingEntries(trimmed), ['node_modules/msgpackr-extract -> @msgpackr-extract/msgpackr-extract-darwin-arm64'])
})
