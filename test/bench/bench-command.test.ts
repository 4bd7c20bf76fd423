import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { findBenchScript } from '../../broker/cli/bench-command.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

t.test('skiff bench finds bench/run.mjs from the source and the built command folders', async (t) => {
  const want = path.join(root, 'bench', 'run.mjs')
  t.equal(findBenchScript(path.join(root, 'broker', 'cli')), want)
  t.equal(findBenchScript(path.join(root, 'dist', 'broker', 'cli')), want)
})

t.test('skiff bench reports no script where there is none', async (t) => {
  // Outside the repository, so no parent folder holds a bench/ either.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-cmd-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const deep = path.join(dir, 'a', 'b', 'c')
  fs.mkdirSync(deep, { recursive: true })
  t.equal(findBenchScript(deep), undefined)
})
