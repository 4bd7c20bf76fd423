import t from 'tap'
import fs from 'node:fs'
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { findBenchScript } from '../../cli/bench-command.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

t.test('skiff bench finds bench/run.mjs from the source and the built command folders', async (t) => {
  const want = path.join(root, 'bench', 'run.mjs')
  t.equal(findBenchScript(path.join(root, 'cli')), want)
  t.equal(findBenchScript(path.join(root, 'dist', 'cli')), want)
})

t.test('skiff bench reports no script where there is none', async (t) => {
  // Outside the repository, so no parent folder holds a bench/ either.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-cmd-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const deep = path.join(dir, 'a', 'b', 'c')
  fs.mkdirSync(deep, { recursive: true })
  t.equal(findBenchScript(deep), undefined)
})

t.test('the built skiff bench passes its arguments to the runner', { skip: !fs.existsSync(path.join(root, 'dist/cli/skiff.js')) && 'needs npm run build' }, async (t) => {
  const res = spawnSync(process.execPath, [path.join(root, 'dist/cli/skiff.js'), 'bench', 'S99'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(res.status, 2)
  t.match(res.stderr, /unknown scenario "S99"/)
  t.match(res.stderr, /S1 durable-ack, S2 fire-and-forget/)
})
