/** Where the bench finds the built broker and client (it always runs the built code in dist/). */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT_DIR = path.resolve(BENCH_DIR, '..')
export const SKIFF_BIN = path.join(ROOT_DIR, 'dist/cli/skiff.js')
export const CLIENT_MODULE = path.join(ROOT_DIR, 'dist/clients/index.js')
export const PROTOCOL_MODULE = path.join(ROOT_DIR, 'dist/protocol/index.js')

/**
 * The node flags the `skiff` command runs with (its shebang, `#!/usr/bin/env -S node <flags>`),
 * so a bench that starts `node dist/cli/skiff.js broker` runs the broker as `skiff broker` does.
 * BENCH_BROKER_FLAGS adds flags after them (a later flag wins: `--initial-old-space-size=0`
 * gives V8's default back, for comparing).
 */
export function brokerNodeFlags(bin = SKIFF_BIN) {
  const first = fs.readFileSync(bin, 'utf8').split('\n', 1)[0]
  const shebang = /^#!\/usr\/bin\/env -S node(?:\s+(.*))?$/.exec(first)
  return [...(shebang?.[1]?.split(/\s+/) ?? []), ...(process.env.BENCH_BROKER_FLAGS ?? '').split(/\s+/)].filter(Boolean)
}

/** Fail early, in one line, when the build is missing. */
export function requireBuild() {
  for (const f of [SKIFF_BIN, CLIENT_MODULE]) {
    if (!fs.existsSync(f)) throw new Error(`${path.relative(process.cwd(), f)} is missing: run \`npm run build\` first`)
  }
}
