/** Where the bench finds the built broker and client (it always runs the built code in dist/). */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT_DIR = path.resolve(BENCH_DIR, '..')
export const SKIFF_BIN = path.join(ROOT_DIR, 'dist/cli/skiff.js')
export const CLIENT_MODULE = path.join(ROOT_DIR, 'dist/clients/index.js')
export const PROTOCOL_MODULE = path.join(ROOT_DIR, 'dist/protocol/index.js')

/** Fail early, in one line, when the build is missing. */
export function requireBuild() {
  for (const f of [SKIFF_BIN, CLIENT_MODULE]) {
    if (!fs.existsSync(f)) throw new Error(`${path.relative(process.cwd(), f)} is missing: run \`npm run build\` first`)
  }
}
