/**
 * Golden vectors, both ways: encoding each vector's value gives exactly its
 * bytes, and decoding its bytes (through the real FrameDecoder for frames)
 * gives its value. Plus the wire conventions every vector must follow.
 */
import t from 'tap'
import { FrameDecoder, Op, RESERVED_OPCODES, pack, unpack } from '../../protocol/index.js'
import { readVectors, fromJson, toJson } from './vector-json.js'
import { codecFor, FRAME_CODECS } from './frame-table.js'
import { dumpMsgpack } from './hexdump.js'

const vectors = readVectors()

t.test('there is a vector for every served frame, a records blob and a stored batch', async (t) => {
  const frames = new Set(vectors.map((v) => v.frame))
  for (const [name, code] of Object.entries(Op)) {
    if (RESERVED_OPCODES.has(code)) t.notOk(frames.has(name), `reserved ${name} has no vector`)
    else t.ok(frames.has(name), `${name} has a vector`)
  }
  t.ok(frames.has('RECORDS'))
  t.ok(frames.has('BATCH'))
})

for (const v of vectors) {
  t.test(v.file, async (t) => {
    const codec = codecFor(v.frame)
    const bytes = Buffer.from(v.hex, 'hex')
    t.equal(v.opcode, codec.opcode, 'opcode field matches the opcode table')

    t.equal(codec.encode(fromJson(v.value)).toString('hex'), v.hex, 'encoding the value gives exactly the hex')

    if (codec.opcode === undefined) {
      t.strictSame(toJson(codec.decode(bytes)), v.value, 'decoding the hex gives the value')
      return
    }
    t.equal(bytes.readUInt32BE(0), bytes.length - 4, 'length prefix counts opcode and body')
    const decoder = new FrameDecoder()
    decoder.push(bytes)
    const frame = decoder.next()
    t.equal(decoder.next(), null, 'exactly one frame')
    t.equal(decoder.bufferedBytes, 0)
    t.equal(frame?.opcode, codec.opcode)
    t.strictSame(toJson(codec.decode(frame!.body)), v.value, 'decoding the hex gives the value')

    const { kinds, lines } = dumpMsgpack(frame!.body)
    t.equal(lines[0]?.note.startsWith('map'), true, 'the body is a map')
    t.notOk(kinds.has('ext'), 'no extension types')
    t.notOk(kinds.has('float'), 'integers travel as integers')
  })
}

t.test('unknown fields are ignored: a future optional field does not change what a frame decodes to', async (t) => {
  for (const v of vectors) {
    const codec = codecFor(v.frame)
    if (codec.opcode === undefined) continue
    const body = Buffer.from(v.hex, 'hex').subarray(5)
    const map = unpack(body) as Record<string, unknown>
    const extended = pack({ ...map, futureField: { nested: [1, 'two'] }, zz: 'later' })
    t.strictSame(toJson(codec.decode(extended)), v.value, v.file)
  }
})

t.test('key order is not significant', async (t) => {
  for (const v of vectors) {
    const codec = codecFor(v.frame)
    if (codec.opcode === undefined) continue
    const map = unpack(Buffer.from(v.hex, 'hex').subarray(5)) as Record<string, unknown>
    const reversed = Object.fromEntries(Object.entries(map).reverse())
    t.strictSame(toJson(codec.decode(pack(reversed))), v.value, v.file)
  }
})

t.test('nil reads like an absent optional field', async (t) => {
  const hello = codecFor('HELLO').decode(pack({ versions: [1], client: 'c', token: null }))
  t.strictSame(toJson(hello), { versions: [1], client: 'c' })
  const ok = codecFor('OK').decode(pack({ corr: 1, result: null }))
  t.strictSame(ok, { corr: 1, result: null })
  const publish = codecFor('PUBLISH').decode(pack({ corr: 1, topic: 't', count: 1, records: Buffer.alloc(10), confirm: null }))
  t.match(publish, { confirm: true }, 'nil confirm takes the default')
})

t.test('every frame codec is covered by the table used for fuzzing', async (t) => {
  const served = Object.entries(Op).filter(([, c]) => !RESERVED_OPCODES.has(c))
  t.equal(FRAME_CODECS.length, served.length)
})
