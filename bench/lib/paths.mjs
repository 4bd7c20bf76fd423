/** Where the bench finds the built broker and client (it always runs the built code in dist/). */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT_DIR = path.resolve(BENCH_DIR, '..')
export const SKIFF_BIN = path.join(ROOT_DIR, 'dist/cli/skiff.js')
export const CLIENT_MODULE = path.join(ROOT_DIR, 'dist/clients/index.js')
export const PROTOCOL_MODULE = path.join(ROOT_DIR, 'dist/protocol/index.js')

/**
 * The node flags a broker is started with (broker/heap-settings.ts: `npm start`, the Docker image
 * and the systemd unit give node HEAP_FLAG), read from the build being run, so a bench broker runs
 * as a deployed one does. BENCH_BROKER_FLAGS adds flags after them (a later flag wins:
 * `--initial-old-space-size=0` gives V8's default back, for comparing).
 */
export async function brokerNodeFlags(dist = path.join(ROOT_DIR, 'dist')) {
  const settings = path.join(dist, 'broker/heap-settings.js')
  const { HEAP_FLAG } = fs.existsSync(settings) ? await import(pathToFileURL(settings).href) : {}
  return [HEAP_FLAG, ...(process.env.BENCH_BROKER_FLAGS ?? '').split(/\s+/)].filter(Boolean)
}

/** Fail early, in one line, when the build is missing. */
export function requireBuild() {
  for (const f of [SKIFF_BIN, CLIENT_MODULE]) {
    if (!fs.existsSync(f)) throw new Error(`${path.relative(process.cwd(), f)} is missing: run \`npm run build\` first`)
  }
}
