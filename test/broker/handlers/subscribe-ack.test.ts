/**
 * SUBSCRIBE, UNSUBSCRIBE and ACK, driven in-process against real partition
 * workers: the OK naming the partitions, the deliveries that follow, acks
 * that move the group's committed offset, a nack that comes back, and the
 * refusals as ERROR frames (a taken subscription id, a bad group name, an
 * unknown subscription, a user without subscribe permission).
 */
import t from 'tap'
import {
  Op,
  decodeDeliver,
  decodeOk,
  encodeAck,
  encodeGroupDescribe,
  encodePublish,
  encodeRecord,
  encodeSubscribe,
  encodeUnsubscribe,
  type Delivery,
  type Subscribe,
} from '../../../protocol/index.js'
import { errorOf, testGateway, type TestConnection } from './harness.js'

const APP = 'app-token-0123456789abcdef'

function subscribe(s: Partial<Subscribe> & { corr: number; sub: number; topic: string }): Buffer {
  return encodeSubscribe({ group: 'billing', start: 'earliest', maxInFlight: 10, ...s })
}

async function publish(c: TestConnection, topic: string, payloads: string[]): Promise<void> {
  const records = Buffer.concat(payloads.map((p) => encodeRecord({ payload: Buffer.from(p) })))
  const f = await c.exchange(encodePublish({ corr: 900, topic, count: payloads.length, records, confirm: true }))
  if (f.opcode !== Op.PUBLISH_ACK) throw new Error(`publish refused: ${errorOf(f).message}`)
}

/** The answer to `frame`: its OK or ERROR, skipping the deliveries that may come first. */
async function answer(c: TestConnection, frame: Buffer) {
  const from = c.frames.length
  c.receive(frame)
  const f = await c.next(from, 5000, (x) => x.opcode === Op.OK || x.opcode === Op.ERROR)
  if (!f) throw new Error('no answer')
  return f
}

/** The messages delivered to `sub` from frame index `from` on, until `count` have come. */
async function delivered(c: TestConnection, sub: number, count: number, from: number): Promise<Delivery[]> {
  const out: Delivery[] = []
  let at = from
  while (out.length < count) {
    const f = await c.next(at, 5000, (x) => x.opcode === Op.DELIVER)
    if (!f) throw new Error(`only ${out.length} of ${count} messages delivered`)
    at = c.frames.indexOf(f) + 1
    const d = decodeDeliver(f.body)
    if (d.sub === sub) out.push(...d.messages)
  }
  return out
}

t.test('subscribe, receive, ack, nack and unsubscribe', async (t) => {
  const gw = await testGateway(t)
  const c = await gw.login()
  await publish(c, 'orders', ['a', 'b', 'c'])

  const from = c.frames.length
  const subscribed = await answer(c, subscribe({ corr: 1, sub: 1, topic: 'orders' }))
  t.same(decodeOk(subscribed.body), { corr: 1, result: { partitions: 1 } }, 'SUBSCRIBE is answered OK with the partition count')
  t.equal(c.subs.get(1)?.group, 'billing', 'the connection holds the subscription')

  const msgs = await delivered(c, 1, 3, from)
  t.same(
    msgs.map(([p, offset, , deliveries]) => [p, offset, deliveries]),
    [
      [0, 0, 1],
      [0, 1, 1],
      [0, 2, 1],
    ],
    'the three records are delivered from the earliest offset, each for the first time',
  )

  // Nack the middle one: it comes back, delivered a second time.
  const beforeNack = c.frames.length
  c.receive(encodeAck({ sub: 1, kind: 'nack', partitions: [0], offsets: [1], delayMs: 0 }))
  const again = await delivered(c, 1, 1, beforeNack)
  t.same([again[0]![1], again[0]![3]], [1, 2], 'a nacked message is redelivered with deliveryCount 2')

  c.receive(encodeAck({ sub: 1, kind: 'ack', ranges: [0, 0, 3] }))
  const described = await answer(c, encodeGroupDescribe({ corr: 2, topic: 'orders', group: 'billing' }))
  t.match(decodeOk(described.body).result, { members: 1, partitions: [{ partition: 0, committed: 3, inFlight: 0, lag: 0 }] }, 'the acks committed all three')

  const un = await answer(c, encodeUnsubscribe({ corr: 3, sub: 1 }))
  t.same(decodeOk(un.body), { corr: 3 }, 'UNSUBSCRIBE is answered OK')
  t.equal(c.subs.size, 0, 'and the subscription is gone')
})

t.test('bad subscribe, unsubscribe and ack requests', async (t) => {
  const gw = await testGateway(t)
  const c = await gw.login()
  await publish(c, 'orders', ['a'])
  t.equal((await answer(c, subscribe({ corr: 1, sub: 5, topic: 'orders' }))).opcode, Op.OK, 'the first subscription is taken')
  await delivered(c, 5, 1, 0)

  const errorAfter = async (frame: Buffer) => errorOf(await answer(c, frame))
  const taken = await errorAfter(subscribe({ corr: 2, sub: 5, topic: 'orders' }))
  t.match(taken, { name: 'INVALID_REQUEST', corr: 2 }, 'a subscription id in use is INVALID_REQUEST')
  const badGroup = await errorAfter(subscribe({ corr: 3, sub: 6, topic: 'orders', group: 'no spaces allowed' }))
  t.match(badGroup, { name: 'INVALID_REQUEST', corr: 3 }, 'a malformed group name is INVALID_REQUEST')
  const unknown = await errorAfter(encodeUnsubscribe({ corr: 4, sub: 99 }))
  t.match(unknown, { name: 'UNKNOWN_SUBSCRIPTION', corr: 4 }, 'unsubscribing an unknown id is UNKNOWN_SUBSCRIPTION')
  t.same([...c.subs.keys()], [5], 'only the first subscription is held')

  // An ACK for a subscription the connection does not hold is ignored (its messages were released).
  const before = c.frames.length
  c.receive(encodeAck({ sub: 42, kind: 'ack', ranges: [0, 0, 1] }))
  const described = await answer(c, encodeGroupDescribe({ corr: 5, topic: 'orders', group: 'billing' }))
  t.equal(c.frames.length, before + 1, 'the stray ACK got no answer')
  t.match(decodeOk(described.body).result, { partitions: [{ committed: 0 }] }, 'and committed nothing')
  t.notOk(c.closed)
})

t.test('a user without subscribe permission on the topic gets FORBIDDEN', async (t) => {
  const gw = await testGateway(t, { users: [{ name: 'app', token: APP, publish: ['>'], subscribe: ['app.>'] }] })
  const c = await gw.login('app', APP)
  await publish(c, 'orders', ['a'])
  const e = errorOf(await answer(c, subscribe({ corr: 7, sub: 1, topic: 'orders' })))
  t.match(e, { name: 'FORBIDDEN', corr: 7 })
  t.equal(c.subs.size, 0, 'no subscription is held')
  await publish(c, 'app.orders', ['a'])
  const ok = await answer(c, subscribe({ corr: 8, sub: 2, topic: 'app.orders' }))
  t.equal(ok.opcode, Op.OK, 'a topic within its patterns may be subscribed')
})
