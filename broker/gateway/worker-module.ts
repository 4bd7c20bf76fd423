/**
 * Which file the worker threads run.
 *
 * Built (dist/), it is `main.js` beside the gateway. From TypeScript source
 * (the tests, run through tap's loader), two files could serve: the source
 * `main.ts`, which every worker thread compiles again through the loader it
 * inherits (an in-process start took 1.9-2.3 s with one worker and 6.4-9.1 s
 * with three on a 2-core machine, against 0.9 and 1.9 s), and the built
 * `dist/broker/worker/main.js`, which is the same code only when no source
 * file changed after the build. So:
 * - the built worker when it is newer than every .ts file under broker/ and
 *   protocol/ (what the worker can import; tsc writes every output on a
 *   build, so a source file newer than the output was changed since);
 * - else the source worker, when a TypeScript loader is there to inherit,
 *   with a warning that the build is stale (the start is slower);
 * - else the stale build, with a warning that says so: nothing else can run.
 * SKIFF_WORKER_SOURCE=1 always takes the source worker.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface WorkerModule {
  url: URL
  /** Why this file, when it is not the obvious one (logged as a warning). */
  warning?: string
}

/** The choice for a gateway running as `here` (its own module URL). */
export function workerModule(here: string = import.meta.url): WorkerModule {
  if (!here.endsWith('.ts')) return { url: new URL('../worker/main.js', here) }
  const source = new URL('../worker/main.ts', here)
  const built = new URL('../../dist/broker/worker/main.js', here)
  const roots = ['../../broker/', '../../protocol/'].map((r) => fileURLToPath(new URL(r, here)))
  return chooseFromSource({ source, built, roots, loader: canLoadTypeScript(), forceSource: process.env.SKIFF_WORKER_SOURCE === '1' })
}

export interface SourceChoice {
  source: URL
  built: URL
  /** Directories whose .ts files the worker may import. */
  roots: string[]
  /** A TypeScript loader the worker thread inherits. */
  loader: boolean
  forceSource: boolean
}

export function chooseFromSource(c: SourceChoice): WorkerModule {
  const builtAt = existsSync(c.built) ? statSync(c.built).mtimeMs : undefined
  if (!c.loader) {
    if (builtAt === undefined) return { url: c.source }
    return { url: c.built, warning: 'the gateway runs from TypeScript source, but no TypeScript loader is on the command line for the worker thread to inherit: running the built worker' }
  }
  if (c.forceSource || builtAt === undefined) return { url: c.source }
  const changed = newestSource(c.roots)
  if (changed && changed.mtimeMs > builtAt) {
    return { url: c.source, warning: `${changed.path} changed after the last build: running the worker from source (each worker thread compiles it; run \`npm run build\` for a faster start)` }
  }
  return { url: c.built }
}

/** The most recently modified .ts file under `roots` (skipping dist and node_modules). */
function newestSource(roots: string[]): { path: string; mtimeMs: number } | undefined {
  let newest: { path: string; mtimeMs: number } | undefined
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'dist') continue
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.ts')) {
        const m = statSync(p).mtimeMs
        if (!newest || m > newest.mtimeMs) newest = { path: p, mtimeMs: m }
      }
    }
  }
  for (const r of roots) if (existsSync(r)) walk(r)
  return newest
}

/**
 * Whether a worker thread started now could import a .ts file: Node strips
 * types itself, or a loader flag is on the command line (any --import is taken
 * to be one; if it is not, the worker fails to load with Node's own error).
 */
function canLoadTypeScript(): boolean {
  if ((process.features as { typescript?: unknown }).typescript) return true
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  return flags.some((f) => /^--(import|loader|experimental-loader|require|experimental-strip-types|experimental-transform-types)\b|^-r$/.test(f))
}
