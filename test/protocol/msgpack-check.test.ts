/**
 * The MessagePack shape check (protocol/msgpack-check.ts): every body the
 * protocol defines passes; extension types, non-string map keys, nesting past
 * MAX_DEPTH and lying lengths are BAD_FRAME before msgpackr sees them; what
 * passes, msgpackr decodes; and the check's cost is linear in the bytes (the
 * BigInt-keyed map that cost msgpackr a second per MiB).
 */
import t from 'tap'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { MAX_DEPTH, SkiffError, checkMessagePack, pack, unpack } from '../../protocol/index.js'
import { readVectors } from './vector-json.js'
import { bigintKeyedMap, nestedArrays } from '../../bench/lib/hostile-bodies.mjs'

const refused = (hex: string | Buffer) => {
  const b = typeof hex === 'string' ? Buffer.from(hex, 'hex') : hex
  try {
    checkMessagePack(b)
  } catch (err) {
    return err instanceof SkiffError && err.codeName === 'BAD_FRAME' ? err.message : `wrong error ${String(err)}`
  }
  return undefined
}

/** `depth` one-element arrays around nil. */
const nested = (depth: number): Buffer => nestedArrays(depth + 1)

t.test('every body of the golden vectors passes', async (t) => {
  const vectors = readVectors().filter((v) => v.opcode !== undefined)
  t.ok(vectors.length > 20)
  for (const v of vectors) {
    const body = Buffer.from(v.hex, 'hex').subarray(5)
    if (body.length > 0) t.equal(refused(body), undefined, v.file ?? v.frame)
  }
})

t.test('values the protocol encoder writes pass and decode back', async (t) => {
  const value = fc.letrec((tie) => ({
    leaf: fc.oneof(fc.string(), fc.maxSafeNat(), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true }), fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u))),
    node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(fc.string(), tie('node'), { maxKeys: 5 })),
  })).node
  fc.assert(
    fc.property(value, (v) => {
      const bytes = pack(v)
      checkMessagePack(bytes)
      unpack(bytes)
    }),
    { numRuns: 500 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('extension types are refused, msgpackr\'s own and the standard timestamp alike', async (t) => {
  const cases: [string, string][] = [
    ['fixext 1', 'd40100'],
    ['fixext 2', 'd5010000'],
    ['fixext 4 (timestamp 32)', 'd6ff00000000'],
    ['fixext 8', 'd7ff0000000000000000'],
    ['fixext 16', 'd8ff' + '00'.repeat(16)],
    ['ext 8', 'c70142' + '01'],
    ['ext 16', 'c8000142' + '01'],
    ['ext 32', 'c90000000142' + '01'],
    ['msgpackr record definition (0x72)', 'd47240'],
    ['an extension inside a map value', '81a161d40100'],
    ['an extension deep in an array', '9191919191d40100'],
  ]
  for (const [name, hex] of cases) t.match(refused(hex), /extension type/, name)
  // What a general-purpose packer writes for values outside the protocol.
  const general = new Packr({ useRecords: false, mapsAsObjects: true, useBigIntExtension: true } as ConstructorParameters<typeof Packr>[0])
  t.match(refused(general.pack({ at: new Date(0) })), /extension type/, 'a Date')
  t.match(refused(general.pack({ n: 2n ** 100n })), /extension type/, 'a BigInt past 64 bits')
  t.match(refused(bigintKeyedMap(4096)), /not a string/, 'a map keyed by a BigInt')
})

t.test('map keys must be strings', async (t) => {
  const cases: [string, string][] = [
    ['positive fixint key', '810101'],
    ['negative fixint key', '81ff01'],
    ['nil key', '81c001'],
    ['bool key', '81c301'],
    ['uint 32 key', '81ce0000000101'],
    ['float key', '81cb000000000000000001'],
    ['bin key', '81c4016101'],
    ['array key', '819001'],
    ['map key', '818001'],
    ['second key of a map', '82a16101' + '0101'],
    ['key of a nested map', '81a161' + '810101'],
    ['map 16 with an int key', 'de00010101'],
  ]
  for (const [name, hex] of cases) t.match(refused(hex), /not a string/, name)
  for (const hex of ['81a16101', '81d9016101', '81da00016101', '81db000000016101', 'de0001a16101', 'df00000001a16101', '80']) {
    t.equal(refused(hex), undefined, `string keys pass: ${hex}`)
  }
})

t.test(`nesting is bounded at ${MAX_DEPTH} containers`, async (t) => {
  t.equal(refused(nested(MAX_DEPTH)), undefined, `${MAX_DEPTH} deep passes`)
  t.match(refused(nested(MAX_DEPTH + 1)), /deeper than/, `${MAX_DEPTH + 1} deep is refused`)
  t.match(refused(nested(1024 * 1024 - 1)), /deeper than/, 'a MiB of nesting is refused early')
  t.equal(refused(Buffer.concat([Buffer.alloc(MAX_DEPTH, 0x91), Buffer.from([0x90])])), undefined, 'an empty array is a value, not a level')
})

t.test('lengths that run past the end, bytes after the value, and 0xc1 are refused', async (t) => {
  for (const hex of ['', 'c6ffffffff', 'c4', 'c405', 'd9', 'da00', 'db000000', 'a5616263', 'dc', 'dc0002c0', 'dd00000003c0c0', 'df000000ff', '92c0', '81a161', 'cd00', 'cb0000']) {
    t.match(refused(hex), /truncated|past the end/, `"${hex}"`)
  }
  t.match(refused('c0c0'), /1 bytes follow/)
  t.match(refused('c1'), /not MessagePack/)
  t.match(refused('91c1'), /not MessagePack/)
})

t.test('whatever passes the check, msgpackr decodes (random and mutated bodies)', async (t) => {
  const bodies = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.tuple(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.nat(), fc.array(fc.nat(), { maxLength: 4 }))), fc.nat(), fc.nat({ max: 255 })).map(([v, at, byte]) => {
      const b = Buffer.from(pack(v))
      if (b.length > 0) b[at % b.length] = byte
      return new Uint8Array(b)
    }),
  )
  fc.assert(
    fc.property(bodies, (u) => {
      const b = Buffer.from(u)
      let passed = true
      try {
        checkMessagePack(b)
      } catch (err) {
        if (!(err instanceof SkiffError) || err.codeName !== 'BAD_FRAME') throw err
        passed = false
      }
      if (passed) unpack(b)
    }),
    { numRuns: 3000 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('the check costs time linear in the bytes: a 1 MiB BigInt-keyed map is refused in milliseconds', async (t) => {
  const body = bigintKeyedMap(1024 * 1024)
  t.throws(() => unpack(body), { name: 'SkiffError', codeName: 'BAD_FRAME' })
  let refusals = 0
  const started = performance.now()
  for (let i = 0; i < 10; i++) {
    try {
      unpack(body)
    } catch {
      refusals++
    }
  }
  const ms = (performance.now() - started) / 10
  t.equal(refusals, 10)
  // msgpackr alone spent ~1,000 ms on this body (BigInt#toString of an 8-Mbit key).
  t.ok(ms < 5, `${ms.toFixed(3)} ms per refusal`)
  const wide = pack({ offsets: Array.from({ length: 200_000 }, (_, i) => 1_000_000 + i) })
  const t0 = performance.now()
  checkMessagePack(wide)
  const perByte = ((performance.now() - t0) * 1e6) / wide.length
  t.ok(perByte < 100, `a 1 MiB array of integers: ${perByte.toFixed(1)} ns per byte`)
})
