/**
 * The broker's heap setting (broker/heap-settings.ts) reaches the main
 * thread's isolate only through node's command line, so every way the
 * project starts a broker must carry it: the `skiff` command's shebang (what
 * `npx skiff broker`, the systemd unit and the EC2 stack run), `npm start`
 * and the Docker image.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT } from './pack.js'
import { HEAP_FLAG } from '../../broker/heap-settings.js'

const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8')

t.test('the skiff command runs node with the heap flag, in the source and in the build', async (t) => {
  for (const f of ['cli/skiff.ts', 'dist/cli/skiff.js']) {
    const shebang = read(f).split('\n', 1)[0]!
    t.equal(shebang, `#!/usr/bin/env -S node ${HEAP_FLAG}`, f)
  }
})

t.test('npm start gives node the heap flag', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
  t.equal(pkg.scripts.start, `node ${HEAP_FLAG} dist/cli/skiff.js broker`)
})

t.test('the Docker image gives node the heap flag', async (t) => {
  const entry = read('Dockerfile')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '))
  t.ok(entry, 'the Dockerfile has an ENTRYPOINT')
  const argv = JSON.parse(entry!.slice('ENTRYPOINT '.length)) as string[]
  t.same(argv.slice(argv.indexOf('node'), argv.indexOf('node') + 3), ['node', HEAP_FLAG, '/app/dist/cli/skiff.js'])
})
