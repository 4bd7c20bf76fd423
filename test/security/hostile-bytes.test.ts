/**
 * Hostile bytes: lying length prefixes, MessagePack bodies that declare 4 GiB
 * strings or nest 100k deep, `__proto__` keys. Each closes the offending
 * connection (or, for a well-formed frame with bad fields after HELLO, is
 * refused with the connection kept, as PROTOCOL.md says) without the broker
 * allocating what the bytes ask for, while a logged-in client keeps working.
 */
import t from 'tap'
import { Op, encodeRawFrame, encodeTopicList, encodePublish, encodeRecord, pack } from '../../protocol/index.js'
import { connect } from '../../clients/index.js'
import { RawPeer, TOKENS, authBroker, answer, login, rssMiB } from './helpers.js'

/** A frame header declaring `length` (opcode included) followed by `body` (possibly much shorter). */
function lying(length: number, opcode: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(5)
  h.writeUInt32BE(length >>> 0, 0)
  h[4] = opcode
  return Buffer.concat([h, body])
}

/** MessagePack: a map {topic: <str32 declaring 4 GiB>} with only a few bytes of the string present. */
const str4GiB = Buffer.concat([Buffer.from([0x81, 0xa5]), Buffer.from('topic'), Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff]), Buffer.from('abc')])
const bin4GiB = Buffer.concat([Buffer.from([0x81, 0xa7]), Buffer.from('records'), Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff]), Buffer.from('abc')])
const array4G = Buffer.concat([Buffer.from([0x81, 0xa8]), Buffer.from('versions'), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])])
const map4G = Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01])
/** 100,000 nested one-element arrays around nil. */
const deep = (n: number) => Buffer.concat([Buffer.alloc(n, 0x91), Buffer.from([0xc0])])
/** {"__proto__": {"polluted": true, "topic": "orders.x"}} */
const protoKey = Buffer.concat([Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), pack({ polluted: true, topic: 'orders.x', corr: 1 })])

t.test('hostile frames', async (t) => {
  const { broker } = await authBroker(t, [{ name: 'app', token: TOKENS.app, publish: ['orders.>'], subscribe: ['orders.>'] }])
  const good = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'good', token: TOKENS.app })
  t.teardown(() => good.close())
  const producer = good.producer()
  let n = 0
  const stillServed = async () => (await producer.publish('orders.good', `m${n++}`)).offset
  const rssBefore = rssMiB()

  const preAuth: [string, Buffer, string][] = [
    ['length 0', Buffer.from([0, 0, 0, 0]), 'BAD_FRAME'],
    ['length 64 KiB + 1 before HELLO', lying(64 * 1024 + 1, Op.HELLO), 'FRAME_TOO_LARGE'],
    ['length 0xFFFFFFFF', lying(0xffffffff, Op.HELLO), 'FRAME_TOO_LARGE'],
    ['HELLO whose body declares a 4 GiB string', encodeRawFrame(Op.HELLO, Buffer.concat([Buffer.from([0x82, 0xa6]), Buffer.from('client'), str4GiB.subarray(7)])), 'BAD_FRAME'],
    ['HELLO whose versions array declares 4G items', encodeRawFrame(Op.HELLO, array4G), 'BAD_FRAME'],
    ['HELLO that is a map of 4G entries', encodeRawFrame(Op.HELLO, map4G), 'BAD_FRAME'],
    ['HELLO nested 100k deep (over the 64 KiB pre-auth limit)', encodeRawFrame(Op.HELLO, deep(100_000)), 'FRAME_TOO_LARGE'],
    ['HELLO nested 60k deep (under it)', encodeRawFrame(Op.HELLO, deep(60_000)), 'BAD_FRAME'],
    ['HELLO with only a __proto__ key', encodeRawFrame(Op.HELLO, protoKey), 'INVALID_REQUEST'],
    ['a frame before HELLO', encodeTopicList(1), 'UNAUTHORIZED'],
  ]
  for (const [what, bytes, code] of preAuth) {
    t.test(`${what}: ${code} and a close`, async (t) => {
      const p = await RawPeer.connect(broker.port)
      p.write(bytes)
      t.ok(await p.waitClosed(4000), 'closed')
      t.match(p.errors(), [{ name: code }])
      t.type(await stillServed(), 'number', 'the good client is still served')
    })
  }

  const postAuth: [string, Buffer, string][] = [
    ['length 0', Buffer.from([0, 0, 0, 0]), 'BAD_FRAME'],
    ['length maxFrame + 1', lying(broker.config.maxFrame + 1, Op.PUBLISH), 'FRAME_TOO_LARGE'],
    ['length 0xFFFFFFFF', lying(0xffffffff, Op.PUBLISH), 'FRAME_TOO_LARGE'],
    ['PUBLISH declaring a 4 GiB topic string', encodeRawFrame(Op.PUBLISH, str4GiB), 'BAD_FRAME'],
    ['PUBLISH declaring 4 GiB of records', encodeRawFrame(Op.PUBLISH, bin4GiB), 'BAD_FRAME'],
    ['PUBLISH that is a map of 4G entries', encodeRawFrame(Op.PUBLISH, map4G), 'BAD_FRAME'],
    ['PUBLISH nested 100k deep', encodeRawFrame(Op.PUBLISH, deep(100_000)), 'BAD_FRAME'],
  ]
  for (const [what, bytes, code] of postAuth) {
    t.test(`after HELLO, ${what}: ${code} and a close`, async (t) => {
      const p = await login(broker.port, TOKENS.app)
      p.write(bytes)
      t.ok(await p.waitClosed(4000), 'closed')
      t.match(p.errors(), [{ name: code }])
      t.type(await stillServed(), 'number', 'the good client is still served')
    })
  }

  t.test('after HELLO, a __proto__ key is an unknown field: refused, nothing polluted, connection kept', async (t) => {
    const p = await login(broker.port, TOKENS.app)
    p.write(encodeRawFrame(Op.PUBLISH, protoKey))
    const err = await p.waitFor((f) => f.opcode === Op.ERROR)
    t.ok(err, 'answered with ERROR')
    t.match(p.errors()[0], { name: 'INVALID_REQUEST' })
    t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
    p.write(encodePublish({ corr: 3, topic: 'orders.after', count: 1, records: encodeRecord({ payload: Buffer.from('x') }), confirm: true }))
    t.match(await answer(p, 3), { ok: true }, 'the connection still works')
    p.end()
  })

  t.test('memory', async (t) => {
    const grown = rssMiB() - rssBefore
    t.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB (under 64) after every hostile frame`)
  })
})
