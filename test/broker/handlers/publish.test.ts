/**
 * The PUBLISH handler, driven in-process against real partition workers:
 * PUBLISH_ACK with each record's partition and offset once stored, the
 * refusals of a bad or unpermitted publish as ERROR frames naming the
 * request, and the publish budget given back either way.
 */
import t from 'tap'
import { Op, decodePublishAck, encodePublish, encodeRecord } from '../../../protocol/index.js'
import { errorOf, testGateway } from './harness.js'

const APP = 'app-token-0123456789abcdef'
const record = (payload: string, key?: string) => encodeRecord({ key, payload: Buffer.from(payload) })

t.test('a confirmed publish is answered with PUBLISH_ACK once stored', async (t) => {
  const gw = await testGateway(t)
  const c = await gw.login()
  const first = await c.exchange(encodePublish({ corr: 1, topic: 'orders', count: 1, records: record('a'), confirm: true }))
  t.equal(first.opcode, Op.PUBLISH_ACK)
  t.same(decodePublishAck(first.body), { corr: 1, partition: 0, offset: 0 }, 'the first record of a new topic is at offset 0')
  t.ok(gw.ctx.topics.get('orders'), 'publishing created the topic')

  const two = Buffer.concat([record('b'), record('c')])
  const next = await c.exchange(encodePublish({ corr: 2, topic: 'orders', count: 2, records: two, confirm: true }))
  t.same(decodePublishAck(next.body), { corr: 2, partition: 0, offset: 1 }, 'a batch is confirmed at the offset of its first record')
  t.equal(c.pendingPublishBytes, 0, 'the publish budget is given back once confirmed')

  // Fire-and-forget: no answer; the next confirmed publish shows it was stored.
  const from = c.frames.length
  c.receive(encodePublish({ corr: 3, topic: 'orders', count: 1, records: record('d'), confirm: false }))
  const after = await c.exchange(encodePublish({ corr: 4, topic: 'orders', count: 1, records: record('e'), confirm: true }))
  t.same(decodePublishAck(after.body), { corr: 4, partition: 0, offset: 4 }, 'the unconfirmed record took offset 3')
  t.equal(c.frames.length, from + 1, 'and nothing answered it')
})

t.test('bad publishes are ERROR frames with their stable codes and their corr', async (t) => {
  const gw = await testGateway(t)
  const c = await gw.login()
  const from = c.frames.length
  const cases = [
    ['zero records', encodePublish({ corr: 11, topic: 'v', count: 0, records: Buffer.alloc(0), confirm: true })],
    ['a count larger than the records', encodePublish({ corr: 12, topic: 'v', count: 2, records: record('x'), confirm: true })],
    ['a topic name with a slash', encodePublish({ corr: 13, topic: '../etc', count: 1, records: record('x'), confirm: true })],
    ['a dead-letter topic', encodePublish({ corr: 14, topic: 'v.dlq', count: 1, records: record('x'), confirm: true })],
  ] as const
  for (const [name, frame] of cases) {
    const e = errorOf(await c.exchange(frame))
    t.equal(e.name, 'INVALID_REQUEST', `${name}: INVALID_REQUEST`)
  }
  t.same(
    c.frames.slice(from).map((f) => errorOf(f).corr),
    [11, 12, 13, 14],
    'each error answers its request',
  )
  t.notOk(c.closed, 'the connection stays open')
  t.equal(c.pendingPublishBytes, 0, 'no publish budget is held by a refused publish')
  t.equal(gw.ctx.topics.get('v'), undefined, 'records that cannot be stored did not create their topic')
  const ok = await c.exchange(encodePublish({ corr: 15, topic: 'v', count: 1, records: record('good'), confirm: true }))
  t.same(decodePublishAck(ok.body), { corr: 15, partition: 0, offset: 0 }, 'a good publish after them is at offset 0: nothing refused was stored')
})

t.test('a user without publish permission on the topic gets FORBIDDEN', async (t) => {
  const gw = await testGateway(t, { users: [{ name: 'app', token: APP, publish: ['app.>'], subscribe: ['>'] }] })
  const c = await gw.login('app', APP)
  const e = errorOf(await c.exchange(encodePublish({ corr: 21, topic: 'billing', count: 1, records: record('x'), confirm: true })))
  t.equal(e.name, 'FORBIDDEN')
  t.equal(e.corr, 21)
  t.notOk(gw.ctx.topics.get('billing'), 'the refused publish created nothing')
  const ok = await c.exchange(encodePublish({ corr: 22, topic: 'app.events', count: 1, records: record('x'), confirm: true }))
  t.same(decodePublishAck(ok.body), { corr: 22, partition: 0, offset: 0 }, 'a topic within its patterns is accepted')
})

t.test('a PUBLISH naming its partition stores every record there, whatever its key', async (t) => {
  const gw = await testGateway(t)
  const c = await gw.login()
  await gw.ctx.topics.create({ corr: 0, topic: 'routed', partitions: 3 })
  const two = Buffer.concat([record('a', 'k1'), record('b', 'k2')])
  const ok = await c.exchange(encodePublish({ corr: 31, topic: 'routed', count: 2, records: two, confirm: true, partition: 2 }))
  t.same(decodePublishAck(ok.body), { corr: 31, partition: 2, offset: 0 }, 'both records in partition 2, one after the other')
  const e = errorOf(await c.exchange(encodePublish({ corr: 32, topic: 'routed', count: 1, records: record('c'), confirm: true, partition: 3 })))
  t.match(e, { name: 'INVALID_REQUEST', corr: 32, message: /has no partition 3/ })
  const bad = errorOf(await c.exchange(encodePublish({ corr: 33, topic: 'routed', count: 2, records: record('d'), confirm: true, partition: 1 })))
  t.equal(bad.name, 'INVALID_REQUEST', 'the records are checked as without a partition')
})
