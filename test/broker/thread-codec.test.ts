/**
 * The ops between the gateway and its workers, through a ThreadCodec as the
 * pool and the workers use one: every op kind comes back as it was sent
 * (numbers past 2^32 and up to 2^53, producer ids up to 2^48, undefined kept
 * apart from present, multi-byte UTF-8 names, empty and 1 MiB byte fields,
 * mixed hot and MessagePack ops in their order); the hot ops take their
 * binary layout (the packed size is the layout's, not MessagePack's) and
 * their byte fields are views of the received ArrayBuffer (a large `out`
 * frame, or a fetch answer's batches the worker joined, given up with
 * transferOnPost, travel in their own transferred ArrayBuffer, never
 * copied); a hot kind whose fields do not fit the layout still comes back
 * exactly. The property tests
 * check random turns against the MessagePack round trip that was used
 * before, one with every op kind generated from its declared fields
 * (OP_FIELDS); an op with a field not declared for it, or an unknown op,
 * throws an error naming them.
 */
import t from 'tap'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Packr, Unpackr } from 'msgpackr'
import { OP_FIELDS, type FieldKind, type Op } from '../../broker/thread-messages.js'
import { ATTACH_MIN_BYTES, ThreadCodec, transferOnPost } from '../../broker/thread-codec.js'
import { ACK_KINDS } from '../../protocol/index.js'

const codec = new ThreadCodec()
// The tests hand the codec ops that are wrong on purpose (fields that do not fit a layout).
const packOps = (ops: readonly unknown[]): ArrayBuffer => codec.pack(ops as Op[])
const unpackOps = <T = Op>(ab: ArrayBuffer): T[] => codec.unpack(ab) as T[]

/** The encoding packOps used before: what every op must still come back as. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })
const viaMsgpack = (op: unknown): unknown => unpackr.unpack(packr.pack(op))

const roundTrip = (ops: unknown[]): unknown[] => unpackOps(packOps(ops))

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8')
const isU32 = (v: unknown) => typeof v === 'number' && v >>> 0 === v
const isNum = (v: unknown) => typeof v === 'number'

/** The ops with a binary layout of their own (thread-codec.ts); every other op goes as MessagePack. */
const HOT = new Set(['pub', 'settle', 'out', 'done', 'replAppend'])

const str16 = (v: unknown) => typeof v === 'string' && utf8(v) <= 0xffff
/** A leader's "diverges at": exactly { epoch, endOffset }, both numbers. */
const isDiverging = (v: unknown) =>
  v !== null && typeof v === 'object' && Object.keys(v).length === 2 && isNum((v as { epoch?: unknown }).epoch) && isNum((v as { endOffset?: unknown }).endOffset)

/** Bytes after a DONE_FETCHED entry's id: a non-empty list of fetch answers with their fields only (none attached here). */
function fetchedSize(result: unknown): number | undefined {
  if (!Array.isArray(result) || result.length === 0) return undefined
  const keys = new Set(['topic', 'partition', 'hw', 'leaderEnd', 'batches', 'divergingEpoch', 'error', 'groups', 'caughtUp', 'acked', 'logStart'])
  let size = 4
  for (const a of result) {
    if (a === null || typeof a !== 'object' || !Object.keys(a).every((k) => keys.has(k))) return undefined
    const { topic, partition, hw, leaderEnd, acked, caughtUp, batches, divergingEpoch: d, error, groups, logStart } = a as Record<string, unknown>
    if (!str16(topic) || !isU32(partition) || !isNum(hw) || !isNum(leaderEnd) || !isNum(acked) || typeof caughtUp !== 'boolean' || !(batches instanceof Uint8Array)) return undefined
    if ((d !== undefined && !isDiverging(d)) || (error !== undefined && !str16(error)) || (groups !== undefined && !(groups instanceof Uint8Array)) || (logStart !== undefined && !isNum(logStart))) return undefined
    size += 2 + utf8(topic as string) + 4 + 8 + 8 + 8 + 1 + (d === undefined ? 0 : 16) + (error === undefined ? 0 : 2 + utf8(error as string))
    size += (groups === undefined ? 0 : 4 + groups.length) + (logStart === undefined ? 0 : 8) + 4 + batches.length
  }
  return size
}

/**
 * A declared field's bytes in the binary layout, or undefined when the value
 * does not fit it. Optional and boolean fields share one flags byte (counted
 * apart), an absent optional one takes no bytes.
 */
function fieldSize(kind: FieldKind, v: unknown): number | undefined {
  switch (kind) {
    case 'f64':
      return isNum(v) ? 8 : undefined
    case 'f64?':
      return v === undefined ? 0 : isNum(v) ? 8 : undefined
    case 'u32':
      return isU32(v) ? 4 : undefined
    case 'str':
      return typeof v === 'string' && utf8(v) <= 0xffff ? 2 + utf8(v) : undefined
    case 'bool':
      return typeof v === 'boolean' ? 0 : undefined
    case 'bin':
      return v instanceof Uint8Array ? 4 + v.length : undefined
    case 'f64[]':
      return Array.isArray(v) && v.every(isNum) ? 4 + 8 * v.length : undefined
    case 'ackKind':
      return ACK_KINDS.includes(v as never) ? 1 : undefined
    default:
      return undefined
  }
}

/** The layout's size of a hot op, from its declared fields, or undefined when it must go as MessagePack. */
function hotSize(op: Record<string, unknown>): number | undefined {
  if (typeof op.t !== 'string' || !HOT.has(op.t)) return undefined
  const fields = OP_FIELDS[op.t as Op['t']]
  if (op.t === 'done') {
    // done's result is a value: a number takes 8 bytes, null and undefined a tag of their own.
    if (!isNum(op.id)) return undefined
    if (isNum(op.result)) return 1 + 8 + 8
    if (op.result === null || op.result === undefined) return 1 + 8
    const fetched = fetchedSize(op.result)
    return fetched === undefined ? undefined : 1 + 8 + fetched
  }
  if (op.t === 'replAppend') {
    // diverging is a value: absent, or { epoch, endOffset } behind a flags byte.
    const { id, topic, partition, epoch, hw, logStart, batches, diverging, groups } = op
    if (!isNum(id) || !str16(topic) || !isU32(partition) || !isNum(epoch) || !isNum(hw) || !isNum(logStart) || !(batches instanceof Uint8Array) || !(groups instanceof Uint8Array)) return undefined
    if (diverging !== undefined && !isDiverging(diverging)) return undefined
    // Batches of ATTACH_MIN_BYTES or more go in an ArrayBuffer of their own, named in 12 bytes.
    return 1 + 8 + 2 + utf8(topic as string) + 4 + 8 + 8 + 8 + 1 + (diverging === undefined ? 0 : 16) + (batches.length >= ATTACH_MIN_BYTES ? 12 : 4 + batches.length) + 4 + groups.length
  }
  let size = 1
  let flags = false
  for (const [name, kind] of Object.entries(fields)) {
    const n = fieldSize(kind, op[name])
    if (n === undefined) return undefined
    if (kind === 'bool' || kind.endsWith('?')) flags = true
    size += n
  }
  return size + (flags ? 1 : 0)
}

const expectedSize = (ops: Record<string, unknown>[]) => ops.reduce((n, op) => n + (hotSize(op) ?? 1 + 4 + packr.pack(op).length), 0)

/**
 * For comparing with the MessagePack round trip: a missing key and an
 * undefined one are alike there (a hot op always has producerId and sequence,
 * undefined when absent), byte fields compare as bytes, -0 as 0.
 */
function normal(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.length).toString('hex')
  if (Array.isArray(v)) return v.map(normal)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = normal(x)
    return out
  }
  return Object.is(v, -0) ? 0 : v
}

/** A message posted as the pool and the workers post it (its buffers transferred), as received on the other side. */
async function posted(message: ArrayBuffer[]): Promise<ArrayBuffer[]> {
  const { port1, port2 } = new MessageChannel()
  const received = new Promise<ArrayBuffer[]>((resolve) => port2.once('message', resolve))
  port1.postMessage(message, message)
  const got = await received
  port1.close()
  return got
}

const records1M = Buffer.alloc(1024 * 1024)
for (let i = 0; i < records1M.length; i++) records1M[i] = (i * 31) & 0xff

t.test('pub: every field back, ids and offsets past 2^32, producer ids up to 2^48 - 1, undefined kept', async (t) => {
  const base = { t: 'pub', topic: 'orders', partition: 3, count: 2, records: Buffer.from('two records'), confirm: true, producerId: undefined, sequence: undefined }
  const cases = [
    { ...base, id: 0, producerId: undefined, sequence: undefined },
    { ...base, id: 2 ** 32 + 5, producerId: 2 ** 48 - 1, sequence: 0 },
    { ...base, id: Number.MAX_SAFE_INTEGER, producerId: 1, sequence: 2 ** 31 - 1, confirm: false },
    { ...base, id: 7, producerId: 5, sequence: undefined },
    { ...base, id: 8, producerId: undefined, sequence: 9 },
    { ...base, id: 9, partition: 0xffffffff, count: 0xffffffff },
  ]
  const back = roundTrip(cases)
  assert.deepStrictEqual(back, cases)
  // The gateway's UDP route sends a pub without the two keys: they come back undefined.
  const { producerId: _p, sequence: _s, ...bare } = cases[0]!
  assert.deepStrictEqual(roundTrip([bare]), [cases[0]])
  t.equal(packOps(cases).byteLength, expectedSize(cases), 'the binary layout, not MessagePack')
})

t.test('pub records of 0 bytes and of 1 MiB, as views of the received ArrayBuffer', async (t) => {
  const ops = [
    { t: 'pub', id: 1, topic: 't', partition: 0, count: 0, records: Buffer.alloc(0), confirm: false, producerId: undefined, sequence: undefined },
    { t: 'pub', id: 2, topic: 't', partition: 0, count: 9000, records: records1M, confirm: true, producerId: undefined, sequence: undefined },
  ]
  const ab = packOps(ops)
  t.equal(ab.byteLength, expectedSize(ops))
  const back = unpackOps<{ records: Buffer }>(ab)
  assert.deepStrictEqual(back, ops)
  for (const op of back) {
    t.ok(Buffer.isBuffer(op.records))
    t.equal(op.records.buffer, ab, 'a view, not a copy')
  }
  // A plain Uint8Array (not a Buffer) goes the same way and comes back as a Buffer.
  const u8 = new Uint8Array([1, 2, 3])
  const [one] = roundTrip([{ ...ops[0], records: u8 }]) as { records: Buffer }[]
  t.ok(Buffer.isBuffer(one!.records))
  t.same([...one!.records], [1, 2, 3])
})

t.test('pub: records given up with transferOnPost travel as an attachment; others are copied', async (t) => {
  // A frame the gateway assembled: its opcode, then the PUBLISH body, the records at its end.
  const frame = Buffer.allocUnsafeSlow(60_000).fill(0x21)
  const records = frame.subarray(500)
  const copied = Buffer.alloc(ATTACH_MIN_BYTES, 0x22) // large, not given up
  transferOnPost(records)
  const base = { t: 'pub', topic: 'big', partition: 1, count: 3, confirm: true, producerId: 2 ** 40, sequence: 7 }
  const ops = [
    { ...base, id: 1, records },
    { ...base, id: 2, records: copied, producerId: undefined, sequence: undefined },
  ]
  const ab = packOps(ops)
  const attachments = codec.attachments
  t.equal(attachments.length, 1, 'one attachment')
  t.equal(attachments[0], frame.buffer, "the frame's own ArrayBuffer")
  const [gotOps, ...gotAttachments] = await posted([ab, ...attachments])
  t.equal(frame.buffer.byteLength, 0, 'the frame is detached: its records were not copied')
  const back = codec.unpack(gotOps!, gotAttachments) as { id: number; records: Buffer; producerId: number | undefined; sequence: number | undefined }[]
  t.same(
    back.map((o) => [o.id, o.records.length, o.records[0], o.producerId, o.sequence]),
    [
      [1, 59_500, 0x21, 2 ** 40, 7],
      [2, ATTACH_MIN_BYTES, 0x22, undefined, undefined],
    ],
    'every field back, records whole',
  )
  t.equal(back[0]!.records.buffer, gotAttachments[0], 'the given-up records are a view of their attachment')
  t.equal(back[1]!.records.buffer, gotOps, 'the others a view of the ops')
})

t.test('settle: every ack kind, empty and long ranges, offsets up to 2^53 - 1, multi-byte names', async (t) => {
  const ops = ACK_KINDS.map((kind, i) => ({
    t: 'settle',
    conn: 2 ** 40 + i,
    sub: 2 ** 32 + 1,
    topic: 'zürich-東京-🚀',
    partition: i,
    group: 'grüppe-組-🎉',
    kind,
    ranges: i === 0 ? [] : [0, 1, Number.MAX_SAFE_INTEGER - 10, 10, 2 ** 33, 1000],
    delayMs: kind === 'nack' ? 2 ** 35 : 0,
  }))
  assert.deepStrictEqual(roundTrip(ops), ops)
  t.equal(packOps(ops).byteLength, expectedSize(ops))
})

t.test('out: connection ids past 2^32, 0 bytes, 140 KB and 1 MiB of frames as views', async (t) => {
  const frames140k = Buffer.alloc(140_000, 0x5a)
  const ops = [
    { t: 'out', conn: 1, bytes: Buffer.alloc(0) },
    { t: 'out', conn: 2 ** 45 + 3, bytes: frames140k },
    { t: 'out', conn: 9, bytes: records1M.subarray(1) },
  ]
  const ab = packOps(ops)
  t.equal(ab.byteLength, expectedSize(ops))
  const back = unpackOps<{ bytes: Buffer }>(ab)
  assert.deepStrictEqual(back, ops)
  for (const op of back) t.equal(op.bytes.buffer, ab)
})

t.test('out: a large frame given up with transferOnPost travels as an attachment, not a copy', async (t) => {
  const frame = Buffer.allocUnsafeSlow(100_000).fill(0x33)
  const view = frame.subarray(0, 90_000) // a frame is a view of the buffer it was encoded in
  const small = Buffer.alloc(100, 0x44)
  const notGiven = Buffer.alloc(ATTACH_MIN_BYTES, 0x55) // large, not given up: copied
  transferOnPost(view)
  const ops = [
    { t: 'out', conn: 1, bytes: small },
    { t: 'out', conn: 1, bytes: view },
    { t: 'out', conn: 2, bytes: notGiven },
  ]
  const ab = packOps(ops)
  const attachments = codec.attachments
  t.equal(attachments.length, 1, 'one attachment')
  t.equal(attachments[0], frame.buffer, "the frame's own ArrayBuffer")
  t.equal(ab.byteLength, 1 + 8 + 4 + 100 + (1 + 8 + 4 + 4 + 4) + 1 + 8 + 4 + ATTACH_MIN_BYTES, 'the large frame takes 21 bytes in the ops, not 90,000')
  // Posted as the worker posts it: the attachment is transferred (detached here).
  const [gotOps, ...gotAttachments] = await posted([ab, ...attachments])
  t.equal(frame.buffer.byteLength, 0, "the worker's frame is detached: nothing was copied")
  const back = codec.unpack(gotOps!, gotAttachments) as { conn: number; bytes: Buffer }[]
  t.same(
    back.map((o) => [o.conn, o.bytes.length, o.bytes[0]]),
    [
      [1, 100, 0x44],
      [1, 90_000, 0x33],
      [2, ATTACH_MIN_BYTES, 0x55],
    ],
    'every frame back, in order, with its bytes',
  )
  t.equal(back[1]!.bytes.buffer, gotAttachments[0], 'the large frame is a view of its attachment')
  t.equal(back[0]!.bytes.buffer, gotOps, 'the small one a view of the ops')
})

t.test('a message naming an attachment it does not carry throws rather than reading past it', async (t) => {
  const frame = Buffer.allocUnsafeSlow(ATTACH_MIN_BYTES)
  transferOnPost(frame)
  const ab = packOps([{ t: 'out', conn: 1, bytes: frame }])
  t.equal(codec.attachments.length, 1)
  t.throws(() => codec.unpack(ab), /attachment the message does not carry/)
})

t.test('done: a number, null and undefined stay apart; an object result goes as MessagePack', async (t) => {
  const ops = [
    { t: 'done', id: 1, result: 0 },
    { t: 'done', id: 2 ** 50, result: Number.MAX_SAFE_INTEGER },
    { t: 'done', id: 3, result: 1.5 },
    { t: 'done', id: 4, result: null },
    { t: 'done', id: 5, result: undefined },
    { t: 'done', id: 6, result: { next: 12, groups: ['a', 'b'], lag: 2 ** 40 } },
    { t: 'done', id: 7, result: 'text' },
  ]
  const back = roundTrip(ops) as { result: unknown }[]
  assert.deepStrictEqual(back, ops)
  t.equal(back[3]!.result, null)
  t.ok('result' in back[4]! && back[4]!.result === undefined)
  t.equal(packOps(ops.slice(0, 5)).byteLength, expectedSize(ops.slice(0, 5)))
})

t.test('replAppend: large batches in an ArrayBuffer of their own, small ones and group state as views; diverging kept or absent', async (t) => {
  const small = Buffer.alloc(ATTACH_MIN_BYTES - 1, 0x21)
  const ops = [
    { t: 'replAppend', id: 1, topic: 'orders', partition: 3, epoch: 7, hw: 2 ** 40, logStart: 2 ** 39, batches: records1M.subarray(5), diverging: undefined, groups: Buffer.from('gs') },
    { t: 'replAppend', id: 2 ** 45, topic: 'zahlungen-ü', partition: 0, epoch: 0, hw: 0, logStart: 0, batches: Buffer.alloc(0), diverging: { epoch: 6, endOffset: 2 ** 33 }, groups: Buffer.alloc(0) },
    { t: 'replAppend', id: 3, topic: 'orders', partition: 1, epoch: 7, hw: 5, logStart: 3, batches: small, diverging: undefined, groups: Buffer.alloc(0) },
  ]
  const ab = packOps(ops)
  t.equal(ab.byteLength, expectedSize(ops), 'the layout, not MessagePack')
  const attachments = codec.attachments
  t.equal(attachments.length, 1, 'the large batches travel beside the ops')
  t.equal(attachments[0]!.byteLength, records1M.length - 5, 'in an ArrayBuffer of exactly their size (a copy: the frame they came in stays)')
  t.equal(records1M.buffer.byteLength, records1M.length, 'the source is not detached')
  const back = codec.unpack(ab, attachments) as unknown as { batches: Buffer; groups: Buffer }[]
  assert.deepStrictEqual(back, ops)
  t.equal(back[0]!.batches.buffer, attachments[0], 'large batches are the whole of their attachment')
  t.equal(back[0]!.batches.byteOffset, 0)
  t.equal(back[2]!.batches.buffer, ab, 'small ones a view of the ops')
  t.equal(back[0]!.groups.buffer, ab)
  const odd = [{ t: 'replAppend', id: 3, topic: 't', partition: 0, epoch: 1, hw: 1, logStart: 0, batches: Buffer.from('b'), diverging: { epoch: 1, endOffset: 2, note: 'x' }, groups: Buffer.alloc(0) }]
  assert.deepStrictEqual(normal(roundTrip(odd)), normal(odd.map(viaMsgpack)))
  t.equal(packOps(odd).byteLength, expectedSize(odd), 'as MessagePack')
})

t.test("done with a fetch's answers: every field back, batches joined by the worker travel as an attachment", async (t) => {
  const joined = Buffer.concat([records1M.subarray(0, 40_000), records1M.subarray(40_000, 90_000)])
  transferOnPost(joined)
  const cacheView = records1M.subarray(100, 50_100) // one batch of the log's cache: not given up, copied
  const answers = [
    { topic: 'orders', partition: 1, hw: 2 ** 36, leaderEnd: 2 ** 36 + 5, batches: joined, caughtUp: true, acked: 2 ** 36, groups: Buffer.from('state') },
    { topic: 'orders', partition: 2, hw: 4, leaderEnd: 9, batches: cacheView, caughtUp: false, acked: 4, logStart: 3 },
    { topic: 'ü', partition: 3, hw: 0, leaderEnd: 0, batches: Buffer.alloc(0), caughtUp: false, acked: 7, divergingEpoch: { epoch: 2, endOffset: 5 } },
    { topic: 'orders', partition: 4, hw: 0, leaderEnd: 0, batches: Buffer.alloc(0), caughtUp: false, acked: 0, error: 'NOT_LEADER' },
  ]
  const op = { t: 'done', id: 42, result: answers }
  const ab = packOps([op])
  const attachments = codec.attachments
  t.equal(attachments.length, 1, 'one attachment: the joined batches')
  t.equal(attachments[0], joined.buffer)
  t.equal(ab.byteLength, (expectedSize([op]) ?? 0) - (4 + joined.length) + 12, 'the joined batches take 12 bytes in the ops, the cache view its length')
  const [gotOps, ...gotAttachments] = await posted([ab, ...attachments])
  t.equal(joined.buffer.byteLength, 0, "the worker's joined batches are detached: nothing was copied")
  const [back] = codec.unpack(gotOps!, gotAttachments) as { t: string; id: number; result: Record<string, unknown>[] }[]
  t.equal(back!.t, 'done')
  t.equal(back!.id, 42)
  t.equal((back!.result[0]!.batches as Buffer).buffer, gotAttachments[0], 'a view of the attachment')
  t.equal(Buffer.compare(back!.result[0]!.batches as Buffer, records1M.subarray(0, 90_000)), 0, 'with the bytes joined')
  t.equal((back!.result[1]!.batches as Buffer).buffer, gotOps, 'the copied one a view of the ops')
  assert.deepStrictEqual(normal(back!.result.map((a) => ({ ...a, batches: undefined }))), normal(answers.map((a) => ({ ...a, batches: undefined }))))
  t.equal(Buffer.compare(back!.result[1]!.batches as Buffer, cacheView), 0)
  // Not a list of answers (an unknown field, a partition past u32, an empty list): MessagePack, as any result.
  for (const result of [[{ ...answers[1], extra: 1 }], [{ ...answers[1], partition: -1 }], []]) {
    const other = [{ t: 'done', id: 1, result }]
    assert.deepStrictEqual(normal(roundTrip(other)), normal(other.map(viaMsgpack)))
    t.equal(packOps(other).byteLength, expectedSize(other))
  }
})

t.test('names read back right however many there are and however they repeat (short ones are cached)', async () => {
  // More names than cache slots, names of the same length that differ in one
  // byte, the empty name, and lengths about the cached limit (32 bytes).
  // Each pass reads every name after others have taken the cache's slots.
  const names = [
    '',
    ...Array.from({ length: 150 }, (_, i) => `topic-${i}`),
    ...Array.from({ length: 26 * 26 }, (_, i) => `ab${String.fromCharCode(97 + Math.floor(i / 26), 97 + (i % 26))}`),
    // Last bytes 64 apart ('!' and 'a'): names that differ in their last byte only and hash alike.
    ...Array.from({ length: 26 }, (_, i) => [`name-${String.fromCharCode(0x21 + i)}`, `name-${String.fromCharCode(0x61 + i)}`]).flat(),
    'x'.repeat(31),
    'x'.repeat(32),
    'x'.repeat(33),
    'é'.repeat(16),
    'é'.repeat(17),
    '東'.repeat(11),
  ]
  for (let pass = 0; pass < 3; pass++) {
    const ops = names.map((name, i) => ({
      t: 'settle',
      conn: 1,
      sub: i,
      topic: name,
      partition: 0,
      group: names[(i * 7 + pass) % names.length]!,
      kind: 'ack',
      ranges: [i, 1],
      delayMs: 0,
    }))
    assert.deepStrictEqual(roundTrip(ops), ops)
    assert.deepStrictEqual(roundTrip([...ops].reverse()), [...ops].reverse())
  }
})

t.test('no ops: an empty buffer and back', async (t) => {
  const ab = packOps([])
  t.equal(ab.byteLength, 0)
  t.same(unpackOps(ab), [])
})

t.test('hot and MessagePack ops mixed keep their order, MessagePack ones as before', async (t) => {
  const ops = [
    { t: 'sub', id: 1, conn: 2, sub: 3, topic: 'é', partition: 0, group: 'g', start: 'earliest', startValue: undefined, maxInFlight: 100, creditPool: 4, ackTimeoutMs: 30000, maxDeliveries: 5, ackNone: false },
    { t: 'pub', id: 2, topic: 'é', partition: 0, count: 1, records: Buffer.from([9]), confirm: true, producerId: undefined, sequence: undefined },
    { t: 'gone', conn: 2 ** 33 },
    { t: 'settle', conn: 2, sub: 3, topic: 'é', partition: 0, group: 'g', kind: 'ack', ranges: [0, 1], delayMs: 0 },
    { t: 'unsub', id: 4, conn: 2, sub: 3, topic: 'é', partition: 0, group: 'g' },
    { t: 'describe', id: 5, topic: 'é', partition: 0 },
    { t: 'out', conn: 2, bytes: Buffer.from('frame') },
    { t: 'fail', id: 6, code: 'NOT_FOUND', message: 'no such topic "ü"' },
    { t: 'done', id: 7, result: 42 },
    { t: 'log', event: { level: 'warn', msg: 'x', n: 2 ** 40, nested: { a: [1, 'b', null] } } },
    { t: 'metrics', deltas: { published: 10, delivered: 9 } },
    { t: 'stop', id: 8 },
  ]
  const back = roundTrip(ops)
  t.same(
    back.map((op) => (op as { t: string }).t),
    ops.map((op) => op.t),
  )
  assert.deepStrictEqual(normal(back), normal(ops.map(viaMsgpack)))
  assert.deepStrictEqual(back, ops)
})

t.test('a hot kind whose fields do not fit the layout comes back as MessagePack gave it', async (t) => {
  const records = Buffer.from('r')
  const ops = [
    { t: 'pub', id: 1, topic: 't', partition: -1, count: 1, records, confirm: true },
    { t: 'pub', id: 2, topic: 't', partition: 0, count: 2 ** 32, records, confirm: true },
    { t: 'pub', id: 3, topic: 't', partition: 0.5, count: 1, records, confirm: true },
    { t: 'pub', id: 4, topic: 'x'.repeat(70_000), partition: 0, count: 1, records, confirm: true },
    { t: 'pub', id: 5, topic: 't', partition: 0, count: 1, records, confirm: true, producerId: null },
    { t: 'settle', conn: 1, sub: 1, topic: 't', partition: 0, group: 'g', kind: 'maybe', ranges: [0, 1], delayMs: 0 },
    { t: 'settle', conn: 1, sub: 1, topic: 't', partition: 0, group: 'g', kind: 'ack', ranges: [0, '1'], delayMs: 0 },
    { t: 'out', conn: '1', bytes: records },
    { t: 'done', result: 1 },
  ]
  const back = roundTrip(ops)
  assert.deepStrictEqual(normal(back), normal(ops.map(viaMsgpack)))
  t.equal(packOps(ops).byteLength, expectedSize(ops), 'each as MessagePack')
  t.equal((back[3] as { topic: string }).topic.length, 70_000)
})

// Random turns: numbers of every kind in every field (so some hot ops do not
// fit their layout), names in all of Unicode, byte fields of random length.
const anyNumber = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.maxSafeInteger(),
  fc.double(),
  fc.constantFrom(2 ** 48 - 1, Number.MAX_SAFE_INTEGER, 2 ** 32, -1),
)
const small = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) }, { weight: 1, arbitrary: anyNumber })
const name = fc.string({ maxLength: 40, unit: 'binary' })
const bytes = fc.uint8Array({ maxLength: 300 })
const pub = fc.record(
  {
    t: fc.constant('pub'),
    id: anyNumber,
    topic: name,
    partition: small,
    count: small,
    records: bytes,
    confirm: fc.boolean(),
    producerId: fc.option(anyNumber, { nil: undefined }),
    sequence: fc.option(anyNumber, { nil: undefined }),
  },
  { requiredKeys: ['t', 'id', 'topic', 'partition', 'count', 'records', 'confirm'] },
)
const settle = fc.record({
  t: fc.constant('settle'),
  conn: anyNumber,
  sub: anyNumber,
  topic: name,
  partition: small,
  group: name,
  kind: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...ACK_KINDS) }, { weight: 1, arbitrary: name }),
  ranges: fc.array(anyNumber, { maxLength: 40 }),
  delayMs: anyNumber,
})
const out = fc.record({ t: fc.constant('out'), conn: anyNumber, bytes })
const done = fc.record({ t: fc.constant('done'), id: anyNumber, result: fc.oneof(anyNumber, fc.constant(null), fc.constant(undefined), fc.jsonValue({ maxDepth: 2 })) })
const others = fc.oneof(
  fc.record({ t: fc.constant('gone'), conn: anyNumber }),
  fc.record({ t: fc.constant('describe'), id: anyNumber, topic: name, partition: small }),
  fc.record({ t: fc.constant('fail'), id: anyNumber, code: fc.constantFrom('INTERNAL', 'NOT_FOUND'), message: name }),
  fc.record({ t: fc.constant('log'), event: fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), fc.jsonValue({ maxDepth: 1 })) }),
)
const turn = fc.array(fc.oneof(pub, settle, out, done, others), { maxLength: 30 })

t.test('random turns come back as the MessagePack round trip gives them, hot ops in their layout', async () => {
  fc.assert(
    fc.property(turn, (ops) => {
      const ab = packOps(ops)
      assert.equal(ab.byteLength, expectedSize(ops as Record<string, unknown>[]))
      const back = unpackOps(ab)
      assert.equal(back.length, ops.length)
      assert.deepStrictEqual(normal(back), normal(ops.map(viaMsgpack)))
    }),
    { numRuns: 500 },
  )
})

// Every op kind, each field generated by its declared kind (optional ones
// sometimes absent): what the declaration says is what crosses.
const ofKind: Record<FieldKind, fc.Arbitrary<unknown>> = {
  f64: anyNumber,
  'f64?': fc.option(anyNumber, { nil: undefined }),
  u32: small,
  str: name,
  bool: fc.boolean(),
  'bool?': fc.option(fc.boolean(), { nil: undefined }),
  bin: bytes,
  'f64[]': fc.array(anyNumber, { maxLength: 40 }),
  ackKind: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...ACK_KINDS) }, { weight: 1, arbitrary: name }),
  value: fc.oneof(anyNumber, fc.constant(null), fc.constant(undefined), fc.jsonValue({ maxDepth: 2 })),
}
const declaredOp = (t: string, fields: Readonly<Record<string, FieldKind>>) =>
  fc.record(
    { t: fc.constant(t), ...Object.fromEntries(Object.entries(fields).map(([f, kind]) => [f, ofKind[kind]])) },
    { requiredKeys: ['t', ...Object.keys(fields).filter((f) => !fields[f]!.endsWith('?'))] as never[] },
  )
const everyOp = fc.oneof(...Object.entries(OP_FIELDS).map(([t, fields]) => declaredOp(t, fields)))

t.test('every op kind, fields generated from its declaration, comes back as the MessagePack round trip gives it', async (t) => {
  const seen = new Set<string>()
  fc.assert(
    fc.property(fc.array(everyOp, { maxLength: 20 }), (ops) => {
      for (const op of ops) seen.add(op.t)
      const ab = packOps(ops)
      assert.equal(ab.byteLength, expectedSize(ops as Record<string, unknown>[]))
      const back = unpackOps(ab)
      assert.equal(back.length, ops.length)
      assert.deepStrictEqual(normal(back), normal(ops.map(viaMsgpack)))
    }),
    { numRuns: 500 },
  )
  t.same([...seen].sort(), Object.keys(OP_FIELDS).sort(), 'every declared op kind was generated')
})

t.test('an op with a field not declared for it throws, naming the op and the field', async (t) => {
  // The hot layout used to drop such a field without a word.
  const pub = { t: 'pub', id: 1, topic: 'orders', partition: 0, count: 1, records: Buffer.from('r'), confirm: true, priority: 5 }
  t.throws(() => packOps([pub]), /thread op pub: field "priority" is not declared/)
  t.throws(() => packOps([{ t: 'done', id: 1, result: 2, extra: true }]), /thread op done: field "extra"/)
  t.throws(() => packOps([{ t: 'describe', id: 1, topic: 't', partition: 0, toString: 'x' }]), /thread op describe: field "toString"/)
  t.throws(() => packOps([{ t: 'nope', id: 1 }]), /unknown op "nope"/)
  // Every kind, with any generated fields and one more that is not declared for it.
  fc.assert(
    fc.property(everyOp, fc.constantFrom('extra', 'constructor', '__proto__x', 'ID', 'kind', 'bytes', 'records', 'result'), (op, key) => {
      if (key in OP_FIELDS[op.t as Op['t']]) return
      const withExtra = { ...op, [key]: 1 }
      assert.throws(() => packOps([withExtra]), (err: Error) => err.message.includes(`thread op ${op.t}: field "${key}"`))
    }),
    { numRuns: 300 },
  )
  // A refused turn leaves the codec fine for the next one.
  assert.deepStrictEqual(unpackOps(packOps([{ t: 'gone', conn: 1 }])), [{ t: 'gone', conn: 1 }])
})
