/**
 * The package installed the way a user installs it (its tarball, without
 * optional dependencies), then used from two scratch projects: an ES module
 * one (`import`) and a CommonJS one (`require`). Each compiles a small
 * TypeScript program and the type tests (fixtures/) with `tsc --strict`,
 * module nodenext and skipLibCheck off, then runs the program against a real
 * broker: publish one message, consume it, meet one broker error.
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { NODE_TYPES, TSC, scratchInstall } from './pack.js'
import { spawnBroker } from '../broker/broker-process.js'

const FIXTURES = new URL('./fixtures/', import.meta.url)
/** What the broker, the CLI and the bench need, and the client must not. */
const BROKER_ONLY = ['yargs', 'pino', 'prom-client', 'hdr-histogram-js']

const scratch = scratchInstall()
t.teardown(() => scratch.remove())
t.comment(`skiffmq installed into ${scratch.dir} by ${scratch.installedBy}`)

t.test('the client installs without the broker dependencies', async (t) => {
  const installed = fs.readdirSync(path.join(scratch.dir, 'node_modules')).filter((n) => !n.startsWith('.'))
  t.ok(installed.includes('skiffmq') && installed.includes('msgpackr'), `installed: ${installed.join(', ')}`)
  const requireHere = createRequire(path.join(scratch.dir, 'package.json'))
  for (const dep of BROKER_ONLY) t.throws(() => requireHere.resolve(dep), { code: 'MODULE_NOT_FOUND' }, `${dep} cannot be found from the project`)
  // The broker is what needs them: without them skiff stops at once and names the missing package.
  const skiff = spawnSync(process.execPath, [path.join(scratch.dir, 'node_modules/skiffmq/dist/cli/skiff.js'), '--help'], { encoding: 'utf8', timeout: 30_000 })
  t.not(skiff.status, 0, 'skiff exits with an error')
  t.match(skiff.stderr, /Cannot find (package|module) '(yargs|pino|prom-client)/, 'naming the missing package')
})

interface Project {
  kind: 'module' | 'commonjs'
  dir: string
}

function makeProject(kind: Project['kind']): Project {
  const dir = path.join(scratch.dir, kind === 'module' ? 'esm' : 'cjs')
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `scratch-${kind}`, private: true, type: kind }, null, 2))
  const compilerOptions = {
    strict: true,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    outDir: 'out',
    skipLibCheck: false,
    types: ['node'],
    typeRoots: [NODE_TYPES],
  }
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts', 'types.ts'] }, null, 2))
  fs.copyFileSync(new URL('publish-consume.ts', FIXTURES), path.join(dir, 'main.ts'))
  fs.copyFileSync(new URL('types.ts', FIXTURES), path.join(dir, 'types.ts'))
  return { kind, dir }
}

/** tsc in the project; the declaration files it read, relative to the installed package. */
function compile(p: Project): string[] {
  let out: string
  try {
    out = execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json', '--listFiles'], { cwd: p.dir, encoding: 'utf8', timeout: 120_000 })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    throw new Error(`tsc failed in the ${p.kind} project:\n${e.stdout ?? ''}${e.stderr ?? ''}`)
  }
  const pkgDir = fs.realpathSync(path.join(scratch.dir, 'node_modules/skiffmq')) + path.sep
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(pkgDir))
    .map((l) => l.slice(pkgDir.length))
}

function run(p: Project, url: string): Record<string, unknown> {
  const out = execFileSync(process.execPath, ['out/main.js', url, p.kind], { cwd: p.dir, encoding: 'utf8', timeout: 30_000 })
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>
}

t.test('ESM and CommonJS projects compile and talk to a real broker', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-package-data-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const broker = await spawnBroker(['--data-dir', dataDir])
  t.teardown(async () => {
    broker.child.kill('SIGTERM')
    await broker.exited
  })
  const url = `skiff://127.0.0.1:${broker.port}`

  for (const kind of ['module', 'commonjs'] as const) {
    t.test(kind, async (t) => {
      const p = makeProject(kind)
      const typeFiles = compile(p)
      // Which build TypeScript took: the import condition's .d.ts or the require condition's.
      const entry = kind === 'module' ? 'dist/clients/index.d.ts' : 'dist/cjs/clients/index.d.ts'
      t.ok(typeFiles.includes(entry), `types from ${entry}`)
      t.notOk(
        typeFiles.some((f) => (kind === 'module' ? f.startsWith('dist/cjs/') : !f.startsWith('dist/cjs/'))),
        'only from that build',
      )
      const emitted = fs.readFileSync(path.join(p.dir, 'out/main.js'), 'utf8')
      if (kind === 'commonjs') t.match(emitted, /require\("skiffmq"\)/, 'compiled to require()')
      else t.match(emitted, /from 'skiffmq'/, 'compiled to import')

      t.same(run(p, url), {
        partition: 0,
        offset: 0,
        received: { decoded: { greeting: 'hi', n: 1 }, offset: 0 },
        error: { code: 'UNKNOWN_TOPIC', wireCode: 6, retriable: false },
      })
    })
  }
})

t.test('require() and import() of skiffmq/protocol give the two builds', async (t) => {
  const script = [
    "const cjs = require('skiffmq/protocol')",
    "import('skiffmq/protocol').then((esm) => {",
    "  const e = new cjs.SkiffError('FORBIDDEN')",
    '  console.log(JSON.stringify({ same: cjs.SkiffError === esm.SkiffError, code: e.code, wireCode: e.wireCode, esmSees: esm.isSkiffError(e, "FORBIDDEN"), ops: Object.keys(cjs.Op).length === Object.keys(esm.Op).length }))',
    '})',
  ].join('\n')
  const out = execFileSync(process.execPath, ['--input-type=commonjs', '-e', script], { cwd: scratch.dir, encoding: 'utf8', timeout: 30_000 })
  t.same(JSON.parse(out), { same: false, code: 'FORBIDDEN', wireCode: 5, esmSees: true, ops: true }, 'two copies; isSkiffError recognises an error of the other')
})
