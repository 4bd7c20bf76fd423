/**
 * The broker's heap setting (broker/heap-settings.ts) reaches the main
 * thread's isolate only through node's command line, so every way the
 * project starts a broker gives it to node: `npm start`, the Docker image
 * and the systemd unit (the one in deploy/ and the one the EC2 stack
 * writes). The `skiff` command's shebang stays a plain `env node`: a flag
 * there needs `env -S`, which busybox (Alpine) does not have.
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

t.test('the Docker image gives node the heap flag', async (t) => {
  const entry = read('Dockerfile')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '))
  t.ok(entry, 'the Dockerfile has an ENTRYPOINT')
  const argv = JSON.parse(entry!.slice('ENTRYPOINT '.length)) as string[]
  t.same(argv.slice(argv.indexOf('node'), argv.indexOf('node') + 3), ['node', HEAP_FLAG, '/app/dist/cli/skiff.js'])
})

t.test('the systemd units give node the heap flag', async (t) => {
  const expected = `ExecStart=/usr/bin/env node ${HEAP_FLAG} /opt/skiffmq/current/node_modules/.bin/skiff broker --config /etc/skiff/skiff.json`
  const unit = read('deploy/skiff-broker.service').split('\n').filter((l) => l.startsWith('ExecStart='))
  t.same(unit, [expected], 'deploy/skiff-broker.service')
  const stack = read('cloudformation/skiff-broker.yaml')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('ExecStart=') && l.includes('skiff broker'))
  t.same(stack, [expected], 'the unit the EC2 stack writes')
})
