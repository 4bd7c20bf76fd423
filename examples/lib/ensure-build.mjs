/**
 * Demo scaffolding for running the examples inside this repository (a project
 * that installed skiffmq from npm has no such step): the examples import
 * 'skiffmq', which resolves to this repository's own dist/ (package.json
 * `exports`), so dist/ must be built from the current sources. Builds
 * (`npm run build`) only when some *.ts under clients/, protocol/ or broker/
 * (or tsconfig.json) has no compiled dist/ file or is newer than it, so a run
 * after an unchanged tree starts at once.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SOURCE_DIRS = ['clients', 'protocol', 'broker', 'cli'] // tsconfig.json's `include`

function* typescriptFiles(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) yield* typescriptFiles(full)
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield full
  }
}

const mtime = (file) => fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs

/** Why dist/ needs a build, or undefined when it is current. */
export function staleReason(root = ROOT) {
  const tsconfig = mtime(path.join(root, 'tsconfig.json')) ?? 0
  for (const dir of SOURCE_DIRS) {
    for (const source of typescriptFiles(path.join(root, dir))) {
      const relative = path.relative(root, source)
      const built = mtime(path.join(root, 'dist', relative.replace(/\.ts$/, '.js')))
      if (built === undefined) return `dist/ has no build of ${relative}`
      if (built < mtime(source)) return `${relative} changed since the last build`
      if (built < tsconfig) return 'tsconfig.json changed since the last build'
    }
  }
  return undefined
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const reason = staleReason()
  if (reason) {
    console.log(`building first: ${reason}`)
    // Under `npm run`, npm_execpath is the npm that runs us (also on Windows, where `npm` is npm.cmd).
    const npm = process.env.npm_execpath
    const build = npm
      ? spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: ROOT, stdio: 'inherit' })
      : spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' })
    if (build.status !== 0) process.exit(build.status ?? 1)
  }
}
