/**
 * readDeliver (the client's DELIVER reader) against the generic path it
 * replaces, decodeDeliver followed by decodeRecord on every record: on every
 * input both accept and give the same messages, or both refuse with the same
 * error code and message. Inputs: frames as the broker writes them, the same
 * frames mutated, truncated and extended, frames laid out by the generic
 * packer (other key orders, extra fields, negative and fractional numbers,
 * numbers past 2^53), records of random bytes and headers of random
 * MessagePack.
 */
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { SkiffError, decodeDeliver, decodeRecord, encodeDeliver, encodeRecord, pack, readDeliver, type Delivery } from '../../protocol/index.js'

interface Seen {
  partition: number
  offset: number
  timestamp: number
  deliveryCount: number
  key: string | undefined
  headers: Record<string, string>
  payload: string
}

type Outcome = { sub: number; messages: Seen[] } | { error: string; message: string }

function failure(err: unknown): Outcome {
  if (!(err instanceof SkiffError)) throw err // anything but a SkiffError is a bug in either reader
  return { error: err.codeName, message: err.message }
}

function generic(body: Buffer): Outcome {
  try {
    const d = decodeDeliver(body)
    const messages = d.messages.map(([partition, offset, timestamp, deliveryCount, bin]) => {
      const r = decodeRecord(bin)
      return { partition, offset, timestamp, deliveryCount, key: r.key, headers: r.headers, payload: r.payload.toString('hex') }
    })
    return { sub: d.sub, messages }
  } catch (err) {
    return failure(err)
  }
}

function byReader(body: Buffer): Outcome {
  try {
    const f = readDeliver(body)
    const messages: Seen[] = []
    f.forEach({
      message(partition, offset, timestamp, deliveryCount, bytes, keyStart, keyEnd, headers, payloadStart, payloadEnd) {
        const key = keyEnd > keyStart ? bytes.toString('utf8', keyStart, keyEnd) : undefined
        messages.push({ partition, offset, timestamp, deliveryCount, key, headers: headers ?? {}, payload: bytes.toString('hex', payloadStart, payloadEnd) })
      },
    })
    assert.equal(messages.length, f.count)
    return { sub: f.sub, messages }
  } catch (err) {
    return failure(err)
  }
}

function same(body: Buffer): Outcome {
  const want = generic(body)
  assert.deepEqual(byReader(body), want)
  return want
}

// Integers as encodeDeliver writes them, each width included; timestamps and offsets up to 2^53 - 1.
const uint = fc.oneof(fc.nat(0x7f), fc.nat(0xff), fc.nat(0xffff), fc.nat(0xffffffff), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))
const headers = fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }), { nil: undefined })
const record = fc
  .record({ key: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }), headers, payload: fc.uint8Array({ maxLength: 300 }) })
  .map((r) => encodeRecord(r))
const delivery = fc.tuple(uint, uint, uint, uint, record) as fc.Arbitrary<Delivery>
const deliver = fc.record({ sub: fc.nat(0xffffffff), messages: fc.array(delivery, { maxLength: 20 }) })
const body = (d: { sub: number; messages: Delivery[] }) => encodeDeliver(d).subarray(5)

t.test('frames as the broker writes them: read by hand, same messages', async (t) => {
  fc.assert(
    fc.property(deliver, (d) => {
      const b = body(d)
      assert.ok(!('error' in same(b)), 'accepted')
      assert.equal(readDeliver(b).byHand, true, 'walked by hand, not handed to the generic decoder')
    }),
    { numRuns: 300 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('a frame of 20 messages (array16 header) and records of every bin width', async (t) => {
  const payloads = [0, 1, 200, 300, 70_000].map((n) => Buffer.alloc(n, 7))
  const messages: Delivery[] = Array.from({ length: 20 }, (_, i) => [i, 2 ** 40 + i, 1_700_000_000_000, 1, encodeRecord({ key: `k${i}`, payload: payloads[i % payloads.length]! })])
  const b = body({ sub: 70_000, messages })
  const out = same(b)
  t.equal(readDeliver(b).byHand, true)
  t.equal('messages' in out && out.messages.length, 20)
})

t.test('mutated, truncated and extended frames: same acceptance, same errors', async (t) => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(0xff) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), value: fc.constant(0) }),
    fc.record({ kind: fc.constant('add' as const), at: fc.nat(), value: fc.nat(0xff) }),
  )
  fc.assert(
    fc.property(deliver, fc.array(mutation, { minLength: 1, maxLength: 4 }), (d, muts) => {
      let b = Buffer.from(body(d))
      for (const m of muts) {
        const at = m.at % (b.length + 1)
        if (m.kind === 'set' && b.length > 0) b[at % b.length] = m.value
        else if (m.kind === 'cut') b = b.subarray(0, at)
        else b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)])
      }
      same(b)
    }),
    { numRuns: 1500 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('frames laid out by the generic packer, with numbers of any kind', async (t) => {
  const anyNumber = fc.oneof(uint, fc.integer({ min: -(2 ** 40), max: -1 }), fc.double({ noNaN: true }), fc.constant(2 ** 60), fc.constant(-0))
  const message = fc.tuple(anyNumber, anyNumber, anyNumber, anyNumber, record)
  const body = fc.record(
    { sub: fc.oneof(anyNumber, fc.string()), messages: fc.array(message, { maxLength: 5 }), extra: fc.anything() },
    { requiredKeys: ['messages'] },
  )
  fc.assert(
    fc.property(body, fc.boolean(), (value, reversed) => {
      const map = reversed ? Object.fromEntries(Object.entries(value).reverse()) : value
      same(pack(map))
    }),
    { numRuns: 500 },
  )
  t.pass('fast-check found no counterexample')
})

t.test('records of random bytes and headers of random MessagePack', async (t) => {
  const headerBytes = fc.oneof(fc.anything().map((v) => pack(v)), fc.uint8Array({ minLength: 1, maxLength: 20 }))
  const rawRecord = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.tuple(fc.option(fc.string({ maxLength: 6 }), { nil: undefined }), headerBytes, fc.uint8Array({ maxLength: 10 })).map(([key, h, payload]) => {
      const k = key === undefined ? Buffer.alloc(0) : Buffer.from(key)
      const out = Buffer.alloc(10 + k.length + h.length + payload.length)
      out.writeUInt32BE(out.length - 4, 0)
      out.writeUInt16BE(k.length, 4)
      k.copy(out, 6)
      out.writeUInt32BE(h.length, 6 + k.length)
      out.set(h, 10 + k.length)
      out.set(payload, 10 + k.length + h.length)
      return out
    }),
  )
  const messages = fc.array(fc.tuple(uint, uint, uint, uint, fc.oneof(record, rawRecord)) as fc.Arbitrary<Delivery>, { minLength: 1, maxLength: 4 })
  let refused = 0
  fc.assert(
    fc.property(fc.nat(0xffffffff), messages, (sub, msgs) => {
      if ('error' in same(body({ sub, messages: msgs }))) refused++
    }),
    { numRuns: 1000 },
  )
  t.ok(refused > 0, `some inputs were refused (${refused}), so refusals were compared too`)
})

t.test('a malformed record refuses the whole frame, whichever message holds it', async (t) => {
  const good = encodeRecord({ payload: Buffer.from('ok') })
  const bad = Buffer.from(good)
  bad.writeUInt16BE(0xffff, 4) // key length past the record
  const b = body({ sub: 1, messages: [[0, 0, 1, 1, good], [0, 1, 1, 1, bad]] })
  t.throws(() => readDeliver(b), { name: 'SkiffError', codeName: 'INVALID_REQUEST', message: /record 0 key overruns the record/ })
})

t.test('messages: the generic form, the same as decodeDeliver gives', async (t) => {
  fc.assert(
    fc.property(deliver, (d) => {
      const b = body(d)
      const norm = (ms: Delivery[]) => ms.map((m) => [...m.slice(0, 4), Buffer.from(m[4]).toString('hex')])
      assert.deepEqual(norm(readDeliver(b).messages), norm(decodeDeliver(b).messages))
    }),
    { numRuns: 100 },
  )
  t.pass('fast-check found no counterexample')
})
