/**
 * PROTOCOL.md against the code: its generated blocks (opcode table, error
 * table, partition examples, one annotated example per vector) must be up to
 * date, every opcode and error it names must exist with the number it gives,
 * and every field a vector carries must be in its frame's field table.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { Op, ERRORS } from '../../protocol/index.js'
import { SPEC_PATH, readVectors } from './vector-json.js'
import { renderSpec, blockNames } from './spec-sections.js'

const spec = readFileSync(SPEC_PATH, 'utf8')
const vectors = readVectors()

t.test('generated blocks are up to date (run test/protocol/generate.ts after a deliberate change)', async (t) => {
  t.equal(renderSpec(spec, vectors), spec)
})

t.test('every vector is shown, and every generated block is known', async (t) => {
  const names = blockNames(spec)
  for (const v of vectors) t.ok(names.includes(`example ${v.file}`), `example for ${v.file}`)
  for (const name of ['opcodes', 'errors', 'partitions']) t.ok(names.includes(name), `${name} block`)
  t.equal(new Set(names).size, names.length, 'no block appears twice')
})

t.test('every "NAME (0xNN)" in the text names an opcode by its number', async (t) => {
  const mentions = [...spec.matchAll(/\b([A-Z][A-Z_]+) \((0x[0-9a-f]{2})\)/g)]
  t.ok(mentions.length >= Object.keys(Op).length - 5, 'the frames are introduced with their numbers')
  for (const [, name, hex] of mentions) {
    t.equal(Op[name as keyof typeof Op], Number.parseInt(hex!, 16), `${name} is ${hex}`)
  }
})

t.test('every error name in backticks exists in the error table', async (t) => {
  const opNames = new Set(Object.keys(Op))
  const names = new Set([...spec.matchAll(/`([A-Z][A-Z_]{3,})`/g)].map((m) => m[1]!).filter((n) => !opNames.has(n)))
  t.ok(names.size > 5)
  for (const n of names) t.ok(n in ERRORS, `${n} is an error code`)
})

/** The backticked names in the first column of the field table under a frame's heading. */
function fieldTable(frame: string): Set<string> | undefined {
  const heading = new RegExp(`^### ${frame} \\(0x[0-9a-f]{2}\\)`, 'm').exec(spec)
  if (!heading) return undefined
  const rest = spec.slice(heading.index + heading[0].length)
  const end = rest.search(/^#{2,3} /m)
  const section = end < 0 ? rest : rest.slice(0, end)
  return new Set([...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]!))
}

t.test('every field a frame vector carries is in that frame\'s field table', async (t) => {
  for (const v of vectors) {
    // PING and PONG have no fields; the admin frames are checked below
    if (v.opcode === undefined || ['PING', 'PONG'].includes(v.frame) || /^(TOPIC|GROUP)_/.test(v.frame)) continue
    const fields = fieldTable(v.frame)
    t.ok(fields, `${v.frame} has a section with a field table`)
    for (const key of Object.keys(v.value as object)) t.ok(fields?.has(key), `${v.frame}.${key} is documented`)
  }
  // The admin frames share one table whose field column lists them inline.
  for (const v of vectors.filter((x) => /^(TOPIC|GROUP)_/.test(x.frame))) {
    const row = spec.split('\n').find((l) => l.startsWith(`| ${v.frame} (`))
    t.ok(row, `${v.frame} has a row in the admin table`)
    for (const key of Object.keys(v.value as object)) t.match(row, `\`${key}\``, `${v.frame}.${key} is documented`)
  }
})
