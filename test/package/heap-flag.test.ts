/**
 * The broker's heap setting (broker/heap-settings.ts) reaches the main
 * thread's isolate only through node's command line, so every way the
 * project starts a broker gives it to node: `npm start` here; the Docker
 * image in test/deploy/docker-image.test.ts and the systemd units in
 * test/deploy/systemd-unit.test.ts, beside their other settings. The `skiff`
 * command's shebang stays a plain `env node`: a flag there needs `env -S`,
 * which busybox (Alpine) does not have.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT } from './pack.js'
import { HEAP_FLAG } from '../../broker/heap-settings.js'

const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8')

t.test('the skiff command keeps a shebang every env runs', async (t) => {
  for (const f of ['cli/skiff.ts', 'dist/cli/skiff.js']) t.equal(read(f).split('\n', 1)[0], '#!/usr/bin/env node', f)
})

t.test('npm start gives node the heap flag', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
  t.equal(pkg.scripts.start, `node ${HEAP_FLAG} dist/cli/skiff.js broker`)
})
