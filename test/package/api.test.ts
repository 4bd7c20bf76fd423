/**
 * The published type surface, compared with api.d.ts.snapshot: every .d.ts
 * that dist/clients/index.d.ts reaches (the client and the protocol modules it
 * re-exports), reprinted without comments so that only a change of the API
 * itself, not of its docs, shows. A difference fails: when the change is meant,
 * run `npx tap --snapshot test/package/api.test.ts` to
 * write the snapshot again and commit it with the change, where the diff of
 * api.d.ts.snapshot shows a reviewer what users will see.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { ROOT } from './pack.js'

const SNAPSHOT = new URL('./api.d.ts.snapshot', import.meta.url)
const ENTRY = path.join(ROOT, 'dist/clients/index.d.ts')

/** The .d.ts files reachable from `entry` by relative imports and re-exports, in path order. */
function reachable(entry: string): string[] {
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true)
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue
      visit(path.resolve(path.dirname(file), ref.fileName.replace(/\.js$/, '.d.ts')))
    }
  }
  visit(entry)
  return [...seen].sort()
}

/** Private class members are in a .d.ts by name only and are no API: left out, so renaming one changes nothing here. */
const dropPrivateMembers: ts.TransformerFactory<ts.SourceFile> = (context) => {
  const visit = (node: ts.Node): ts.Node | undefined => {
    if (ts.isClassElement(node) && node.modifiers?.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)) return undefined
    return ts.visitEachChild(node, visit, context)
  }
  return (source) => ts.visitEachChild(source, visit, context)
}

function apiReport(): string {
  const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed })
  return reachable(ENTRY)
    .map((file) => {
      const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
      const [publicOnly] = ts.transform(source, [dropPrivateMembers]).transformed
      return `// ${path.relative(path.join(ROOT, 'dist'), file)}\n${printer.printFile(publicOnly!).trim()}\n`
    })
    .join('\n')
}

/** The text of `export declare class name ... }` in the report. */
function classBlock(report: string, name: string): string {
  const start = report.search(new RegExp(`export declare class ${name}\\b`))
  return start < 0 ? '' : report.slice(start, report.indexOf('\n}', start) + 2)
}

t.test('the published .d.ts is the reviewed one', async (t) => {
  t.ok(fs.existsSync(ENTRY), 'built (npm run build)')
  const report = apiReport()
  if (t.writeSnapshot) fs.writeFileSync(SNAPSHOT, report) // tap --snapshot, or TAP_SNAPSHOT=1
  const expected = fs.readFileSync(SNAPSHOT, 'utf8')
  t.equal(report, expected, 'dist/clients/index.d.ts and what it reaches; if the change is meant, run `npx tap --snapshot test/package/api.test.ts`')
})

t.test('the report names what users import and none of the internals', async (t) => {
  const report = apiReport()
  for (const name of ['export declare function connect', 'export declare class Client', 'export declare class Consumer', 'export interface ConsumerEvents', 'readonly code: ErrorName', 'readonly wireCode: number']) {
    t.ok(report.includes(name), name)
  }
  const internals: Record<string, string[]> = {
    Client: ['ready(', 'forget(', 'report(', 'start(', 'get connection()', 'get current()', 'ConsumerHost'],
    Consumer: ['deliver(', 'settle(', 'fail(', 'interrupted(', 'connectionLost(', 'flushAcks(', 'get sub()', 'Settler'],
    Producer: ['interrupted(', 'resumed(', 'connectionLost('],
  }
  for (const [cls, members] of Object.entries(internals)) {
    const block = classBlock(report, cls)
    t.ok(block.length > 0, `class ${cls} is in the report`)
    for (const m of members) t.notOk(block.includes(m), `${cls}: no ${m}`)
  }
})

// require('skiffmq') gets its types from dist/cjs: the same declarations, or the two kinds of users would see different APIs.
t.test('the CommonJS build declares the same API', async (t) => {
  for (const file of reachable(ENTRY)) {
    const rel = path.relative(path.join(ROOT, 'dist'), file)
    t.equal(fs.readFileSync(path.join(ROOT, 'dist/cjs', rel), 'utf8'), fs.readFileSync(file, 'utf8'), rel)
  }
})
