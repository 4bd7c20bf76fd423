/**
 * The import directions README.md's Layout section promises, read from the
 * source: every relative import (static, type-only, re-export or dynamic) of
 * every .ts file under protocol/, clients/ and broker/.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

function sources(dir: string): string[] {
  const out: string[] = []
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...sources(rel))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel)
  }
  return out
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm

/** [importing file, imported file], both relative to the repository root. */
function imports(dir: string): [string, string][] {
  const out: [string, string][] = []
  for (const file of sources(dir)) {
    const text = fs.readFileSync(path.join(root, file), 'utf8')
    for (const m of text.matchAll(SPECIFIER)) out.push([file, path.join(path.dirname(file), m[1]!).replace(/\.js$/, '.ts')])
  }
  return out
}

const under = (file: string, dir: string) => file === dir || file.startsWith(dir + path.sep)
const crossing = (from: string, to: string[]) => imports(from).filter(([, target]) => to.some((d) => under(target, d))).map(([a, b]) => `${a} -> ${b}`)

t.test('the source is read at all', async (t) => {
  t.ok(imports('broker').some(([, target]) => under(target, 'protocol')), 'the broker imports the protocol')
  t.ok(imports('broker/gateway').some(([, target]) => under(target, 'broker/observability')), 'the gateway imports observability')
})

t.test('protocol/ imports nothing of ours', async (t) => {
  t.same(crossing('protocol', ['broker', 'clients', 'cli', 'bench']), [])
})

t.test('clients/ and broker/ do not import each other, cli/ or bench/', async (t) => {
  t.same(crossing('clients', ['broker', 'cli', 'bench']), [])
  t.same(crossing('broker', ['clients', 'cli', 'bench']), [])
})

t.test('observability imports nothing of the gateway (the gateway uses its metrics, not the other way)', async (t) => {
  t.same(crossing('broker/observability', ['broker/gateway']), [])
})

t.test('the handlers see a connection only through handler-connection.ts', async (t) => {
  t.same(crossing('broker/gateway/handlers', ['broker/gateway/connection.ts', 'broker/gateway/context.ts']), [])
})
