/**
 * What `npm publish` ships: the built client (ESM and CommonJS), broker and
 * CLI, the docs a user reads, and the part of bench/ that `skiff bench` runs;
 * no tests, no TypeScript sources, no source maps, no recorded bench results.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT, packedFiles } from './pack.js'

const files = packedFiles()
const has = new Set(files)

t.test('the client, broker and docs are in', async (t) => {
  for (const f of [
    'package.json',
    'README.md',
    'clients/README.md',
    'protocol/PROTOCOL.md',
    'dist/clients/index.js',
    'dist/clients/index.d.ts',
    'dist/protocol/index.js',
    'dist/cjs/package.json',
    'dist/cjs/clients/index.js',
    'dist/cjs/clients/index.d.ts',
    'dist/cjs/protocol/index.js',
    'dist/cli/skiff.js',
    // the etcd client of cluster mode loads these at run time, beside its .js
    'dist/broker/cluster/etcd/rpc.proto',
    'dist/broker/cluster/etcd/kv.proto',
  ]) {
    t.ok(has.has(f), f)
  }
  if (fs.existsSync(path.join(ROOT, 'LICENSE'))) t.ok(has.has('LICENSE'), 'LICENSE')
  t.ok(files.some((f) => f.startsWith('dist/broker/worker/')), 'the worker threads')
})

t.test('every target of exports and bin is in the package', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: unknown; bin: Record<string, string>; main: string; types: string }
  const targets: string[] = [...Object.values(pkg.bin), pkg.main, pkg.types]
  const walk = (v: unknown): void => {
    if (typeof v === 'string') targets.push(v)
    else if (v && typeof v === 'object') Object.values(v).forEach(walk)
  }
  walk(pkg.exports)
  t.ok(targets.length >= 10)
  for (const target of targets) t.ok(has.has(path.posix.normalize(target)), target)
})

t.test('nothing a user does not run or read', async (t) => {
  const unwanted = files.filter(
    (f) =>
      f.startsWith('test/') ||
      f.endsWith('.map') ||
      (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
      ((f.startsWith('dist/broker/') || f.startsWith('dist/cli/')) && f.endsWith('.d.ts')) ||
      /^bench\/(micro|soak|hostile|crash|charts)\//.test(f) ||
      /^bench\/(RESULTS\.md|results\.jsonl)$/.test(f) ||
      /^(broker|cli|clients|protocol)\/.*\.ts$/.test(f) ||
      /^(examples|cloudformation|deploy|docs)\//.test(f) ||
      f.startsWith('.'),
  )
  t.same(unwanted, [], 'no tests, sources, source maps, broker .d.ts or bench results')
})

// skiff bench runs bench/run.mjs from the package: every module it can load must be there.
t.test('the bench that skiff bench runs is whole', async (t) => {
  const bench = files.filter((f) => f.startsWith('bench/') && f.endsWith('.mjs'))
  t.ok(has.has('bench/run.mjs') && has.has('bench/scenarios.mjs'), 'the runner and its scenarios')
  for (const role of ['producer', 'consumer', 'observer', 'telemetry']) t.ok(has.has(`bench/roles/${role}.mjs`), `role ${role}`)
  // --topology embedded: its runner, the producer thread and skiffmq's adapter. The other brokers'
  // adapters need their npm clients and servers (bench/peers/setup.sh), so they stay in the repository.
  for (const f of ['run-embedded', 'producer-thread', 'adapter', 'adapters/skiffmq']) t.ok(has.has(`bench/embedded/${f}.mjs`), `embedded ${f}`)
  for (const f of bench) {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8')
    const specifiers = [...text.matchAll(/(?:from\s*|import\(\s*)'(\.[^']+)'/g)].map((m) => m[1]!)
    for (const s of specifiers) {
      const target = path.posix.join(path.posix.dirname(f), s)
      t.ok(has.has(target), `${f} imports ${s}`)
    }
  }
})
