/**
 * Regenerate the golden vectors (protocol/vectors/*.json) and the generated
 * blocks of protocol/PROTOCOL.md:
 *
 *   node --import @tapjs/typescript/import test/protocol/generate.ts --write
 *
 * Without --write it does nothing, so a test runner that loads every file
 * under test/ cannot rewrite the vectors behind the tests' back.
 * Run it only when a change to the wire format is intended: the vectors are
 * the contract other implementations test against, so the diff it produces is
 * a protocol change to review (and, if breaking, a version bump — see
 * PROTOCOL.md "Versioning"). Each vector is checked both ways before it is
 * written: decoding the encoded bytes must give back the source value.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import { codecFor } from './frame-table.js'
import { VECTOR_SOURCES } from './vector-values.js'
import { VECTORS_DIR, SPEC_PATH, toJson, vectorFileName, formatVector, readVectors, type Vector } from './vector-json.js'
import { renderSpec } from './spec-sections.js'

if (process.argv.includes('--write')) generate()
else console.log('usage: node --import @tapjs/typescript/import test/protocol/generate.ts --write')

function generate(): void {
  mkdirSync(VECTORS_DIR, { recursive: true })
  const written = new Set<string>()
  for (const src of VECTOR_SOURCES) {
    const codec = codecFor(src.frame)
    const bytes = codec.encode(src.value)
    const decoded = codec.decode(codec.opcode === undefined ? bytes : bytes.subarray(5))
    if (!isDeepStrictEqual(toJson(decoded), toJson(src.value))) {
      throw new Error(`${src.frame}${src.variant ? `.${src.variant}` : ''} does not round-trip:\n${JSON.stringify(toJson(decoded))}`)
    }
    const vector: Vector = {
      frame: src.frame,
      ...(codec.opcode === undefined ? {} : { opcode: codec.opcode }),
      note: src.note,
      value: toJson(src.value),
      hex: bytes.toString('hex'),
    }
    const file = vectorFileName(src.frame, src.variant)
    if (written.has(file)) throw new Error(`two vectors would be written to ${file}`)
    written.add(file)
    writeFileSync(VECTORS_DIR + file, formatVector(vector))
  }
  for (const v of readVectors()) if (!written.has(v.file)) console.warn(`stale vector not produced by vector-values.ts: ${v.file}`)

  const spec = readFileSync(SPEC_PATH, 'utf8')
  const next = renderSpec(spec, readVectors())
  if (next !== spec) writeFileSync(SPEC_PATH, next)
  console.log(`${written.size} vectors written; PROTOCOL.md ${next === spec ? 'unchanged' : 'updated'}`)
}
