/**
 * FrameDecoder: any split of a byte stream gives the same frames; lengths that
 * can never be valid are refused from the 4 length bytes alone; a frame that
 * lies in one chunk is a view of it, one that straddles chunks is a copy.
 */
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { FrameDecoder, encodeRawFrame, DEFAULT_MAX_FRAME, SkiffError, type Frame } from '../../protocol/index.js'
import { readVectors } from './vector-json.js'

interface Plain {
  opcode: number
  body: string
}

const plain = (f: Frame): Plain => ({ opcode: f.opcode, body: f.body.toString('hex') })

/** Push chunks, draining after each; every loop is bounded by the bytes pushed. */
function decodeChunks(chunks: Buffer[], maxFrame = DEFAULT_MAX_FRAME): Plain[] {
  const d = new FrameDecoder(maxFrame)
  const out: Plain[] = []
  for (const c of chunks) {
    d.push(c)
    for (let f = d.next(); f; f = d.next()) out.push(plain(f))
  }
  if (d.bufferedBytes !== 0) throw new Error(`${d.bufferedBytes} bytes left over`)
  return out
}

/** Unpooled copies, so "same ArrayBuffer" means "same chunk". */
function splitAt(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let prev = 0
  for (const p of [...points, stream.length]) {
    const c = Buffer.alloc(p - prev)
    stream.copy(c, 0, prev, p)
    chunks.push(c)
    prev = p
  }
  return chunks
}

const frameArb = fc.record({ opcode: fc.integer({ min: 0, max: 255 }), body: fc.uint8Array({ maxLength: 300 }) })

const vectorFrames = readVectors()
  .filter((v) => v.opcode !== undefined)
  .map((v) => Buffer.from(v.hex, 'hex'))

t.test('the golden frames fed one byte at a time come out whole, each on its last byte', async (t) => {
  const d = new FrameDecoder()
  const stream = Buffer.concat(vectorFrames)
  const out: Plain[] = []
  const ends = new Set<number>()
  let at = 0
  for (const f of vectorFrames) ends.add((at += f.length) - 1)
  for (let i = 0; i < stream.length; i++) {
    d.push(stream.subarray(i, i + 1))
    const f = d.next()
    t.equal(f !== null, ends.has(i), `byte ${i} ${ends.has(i) ? 'completes' : 'does not complete'} a frame`)
    if (f) out.push(plain(f))
    t.equal(d.next(), null)
  }
  t.strictSame(
    out,
    vectorFrames.map((f) => ({ opcode: f[4], body: f.subarray(5).toString('hex') })),
  )
  t.equal(d.bufferedBytes, 0)
})

t.test('any split of a stream of frames gives the same frames', async (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 25 }), fc.array(fc.nat(), { maxLength: 40 }), (frames, cuts) => {
      const stream = Buffer.concat(frames.map((f) => encodeRawFrame(f.opcode, f.body)))
      const expected = frames.map((f) => ({ opcode: f.opcode, body: Buffer.from(f.body).toString('hex') }))
      assert.deepEqual(decodeChunks(splitAt(stream, cuts)), expected)
    }),
    { numRuns: 150 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('a random stream split byte by byte gives the same frames as in one chunk', async (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), (frames) => {
      const stream = Buffer.concat(frames.map((f) => encodeRawFrame(f.opcode, f.body)))
      const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
      assert.deepEqual(decodeChunks(bytes), decodeChunks([stream]))
    }),
    { numRuns: 30 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('an oversize length is refused from the 4 length bytes, before any body arrives', async (t) => {
  for (const len of [1025, 0x10000, 2 ** 31, 0xffffffff]) {
    const d = new FrameDecoder(1024)
    const head = Buffer.alloc(4)
    head.writeUInt32BE(len)
    d.push(head.subarray(0, 3))
    t.equal(d.next(), null, 'three bytes are not enough to judge')
    d.push(head.subarray(3))
    const err = t.throws(() => d.next(), { name: 'SkiffError', codeName: 'FRAME_TOO_LARGE' }) as SkiffError
    t.strictSame(err.details, { length: len, maxFrame: 1024 })
    t.equal(d.bufferedBytes, 4, 'nothing beyond the header was waited for')
  }
})

t.test('a frame of exactly maxFrame is accepted', async (t) => {
  const frame = encodeRawFrame(7, Buffer.alloc(1023, 1))
  t.strictSame(decodeChunks(splitAt(frame, [4, 500]), 1024), [{ opcode: 7, body: Buffer.alloc(1023, 1).toString('hex') }])
})

t.test('maxFrame can be raised after the handshake', async (t) => {
  const d = new FrameDecoder(16)
  d.push(encodeRawFrame(1, Buffer.alloc(10)))
  t.ok(d.next())
  d.maxFrame = 4096
  d.push(encodeRawFrame(2, Buffer.alloc(2000)))
  t.equal(d.next()?.body.length, 2000)
})

t.test('a zero length is BAD_FRAME, from the length bytes alone', async (t) => {
  const d = new FrameDecoder()
  d.push(Buffer.alloc(4))
  t.throws(() => d.next(), { name: 'SkiffError', codeName: 'BAD_FRAME' })
})

t.test('good frames before a bad length are still delivered', async (t) => {
  const d = new FrameDecoder()
  d.push(Buffer.concat([encodeRawFrame(3, Buffer.from([0x80])), Buffer.alloc(4)]))
  t.strictSame(plain(d.next()!), { opcode: 3, body: '80' })
  t.throws(() => d.next(), { name: 'SkiffError', codeName: 'BAD_FRAME' })
})

t.test('a frame of length 1 has an opcode and an empty body', async (t) => {
  t.strictSame(decodeChunks([Buffer.from('0000000103', 'hex')]), [{ opcode: 3, body: '' }])
})

t.test('empty chunks change nothing', async (t) => {
  const frame = encodeRawFrame(4, Buffer.from([0x80]))
  t.strictSame(decodeChunks([Buffer.alloc(0), frame.subarray(0, 2), Buffer.alloc(0), frame.subarray(2), Buffer.alloc(0)]), [
    { opcode: 4, body: '80' },
  ])
})

t.test('a frame inside one chunk is a view of that chunk', async (t) => {
  const a = encodeRawFrame(0x10, Buffer.from('first'))
  const b = encodeRawFrame(0x11, Buffer.from('second'))
  const chunk = Buffer.alloc(a.length + b.length)
  a.copy(chunk)
  b.copy(chunk, a.length)
  const d = new FrameDecoder()
  d.push(chunk)
  const f1 = d.next()!
  const f2 = d.next()!
  t.equal(f1.body.buffer, chunk.buffer, 'first frame shares the chunk memory')
  t.equal(f2.body.buffer, chunk.buffer, 'second frame too')
  t.equal(f1.body.byteOffset, chunk.byteOffset + 5)
  chunk[5] = 0x46 // 'F'
  t.equal(f1.body.toString(), 'First', 'writing the chunk shows through: no copy was made')
})

t.test('a frame whose header and body arrive in separate chunks is a view of the body chunk', async (t) => {
  const frame = encodeRawFrame(0x22, Buffer.from('payload'))
  const head = Buffer.alloc(4)
  const rest = Buffer.alloc(frame.length - 4)
  frame.copy(head, 0, 0, 4)
  frame.copy(rest, 0, 4)
  const d = new FrameDecoder()
  d.push(head)
  d.push(rest)
  const f = d.next()!
  t.equal(f.body.buffer, rest.buffer)
  t.equal(f.body.toString(), 'payload')
})

t.test('a frame split across chunks is a copy', async (t) => {
  const frame = encodeRawFrame(0x22, Buffer.from('split-payload'))
  const chunks = splitAt(frame, [9, 14])
  const d = new FrameDecoder()
  for (const c of chunks) d.push(c)
  const f = d.next()!
  t.equal(f.body.toString(), 'split-payload')
  for (const c of chunks) t.not(f.body.buffer, c.buffer, 'not a view of any input chunk')
  for (const c of chunks) c.fill(0)
  t.equal(f.body.toString(), 'split-payload', 'clearing the input chunks leaves the frame intact')
})

t.test('a split frame is a copy even when its chunks are consecutive views of one buffer', async (t) => {
  const frame = encodeRawFrame(0x22, Buffer.from('abcdef'))
  const d = new FrameDecoder()
  d.push(frame.subarray(0, 8))
  d.push(frame.subarray(8))
  const f = d.next()!
  t.equal(f.body.toString(), 'abcdef')
  frame.fill(0)
  t.equal(f.body.toString(), 'abcdef')
})

t.test('a 1 MiB frame fed one byte at a time holds at most twice the bytes received, plus a small constant', async (t) => {
  // Regression: each 1-byte chunk used to be kept as its own Buffer (~393 bytes of memory per byte received).
  const frame = encodeRawFrame(0x10, Buffer.alloc(DEFAULT_MAX_FRAME - 1, 0x61))
  const d = new FrameDecoder()
  let worst = 0
  for (let i = 0; i < frame.length - 1; i++) {
    d.push(Buffer.from([frame[i]!]))
    if (d.next() !== null) throw new Error(`a frame came out at byte ${i}`)
    const received = d.bufferedBytes
    if (received !== i + 1) throw new Error(`byte ${i}: ${received} bytes counted`)
    worst = Math.max(worst, d.heldBytes - 2 * received)
  }
  t.ok(worst <= 256, `held - 2 x received never above 256 bytes (worst ${worst})`)
  t.ok(d.heldBytes <= 2 * d.bufferedBytes, `at the end: ${d.heldBytes} bytes held for ${d.bufferedBytes} received`)
  d.push(frame.subarray(frame.length - 1))
  const f = d.next()!
  t.equal(f.opcode, 0x10)
  t.ok(f.body.equals(frame.subarray(5)), 'the frame comes out whole')
  t.equal(d.heldBytes, 0, 'nothing is held once it is out')
})

t.test('a frame cut into chunks of every size from 1 to 64 KiB holds at most twice the bytes received', async (t) => {
  const frame = encodeRawFrame(0x10, Buffer.alloc(300_000, 0x62))
  for (const size of [1, 3, 100, 1000, 4096, 65536]) {
    const d = new FrameDecoder()
    let worst = 0
    let out: Frame | null = null
    for (let at = 0; at < frame.length; at += size) {
      d.push(Buffer.from(frame.subarray(at, at + size)))
      out = d.next()
      if (!out) worst = Math.max(worst, d.heldBytes - 2 * d.bufferedBytes)
    }
    t.ok(worst <= 256, `chunks of ${size}: held - 2 x received at most ${worst}`)
    t.ok(out?.body.equals(frame.subarray(5)), `chunks of ${size}: the frame comes out whole`)
  }
})
