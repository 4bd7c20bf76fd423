/**
 * Consumer ergonomics seen from the wire: handler style with and without
 * autoAck, concurrency, errors, the iterator's autoAck, and closing that lets
 * taken messages be settled first.
 */
import t from 'tap'
import { connect, type Message } from '../../clients/index.js'
import { Op, encodeDeliver, encodeRecord } from '../../protocol/index.js'
import { startStandIn, turn, waitFor, type SeenFrame } from './stand-in.js'

/** A stand-in that delivers `n` text messages (offsets 0..n-1) on every SUBSCRIBE. */
async function deliveringStandIn(n: number) {
  return startStandIn({
    onFrame: (p, f) => {
      p.reply(f)
      if (f.opcode !== Op.SUBSCRIBE) return
      const messages = Array.from({ length: n }, (_, i) => [0, i, 1700000000000, 1, encodeRecord({ headers: { 'content-type': 'text/plain' }, payload: Buffer.from(`m${i}`) })])
      p.send(encodeDeliver({ sub: f.body.sub, messages: messages as never }))
    },
  })
}

/** Every settlement sent, as "kind:offset", in order. */
const settled = (frames: SeenFrame[]) => frames.filter((f) => f.opcode === Op.ACK).flatMap((f) => f.body.offsets.map((o: number) => `${f.body.kind}:${o}`))

t.test('handler with autoAck: ack after it resolves, nack when it throws; the throw is reported', async (t) => {
  const peer = await deliveringStandIn(4)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const seen: string[] = []
  const consumer = await client.subscribe('t', { group: 'g', autoAck: true }, async (msg) => {
    await new Promise((r) => setTimeout(r, 5))
    seen.push(msg.decode<string>())
    if (msg.offset === 2) throw new Error('cannot handle m2')
  })
  const errors: [Error, Message][] = []
  consumer.on('error', (err: Error, msg: Message) => errors.push([err, msg]))
  await waitFor('four settlements', () => settled(peer.frames).length === 4)
  t.same(seen, ['m0', 'm1', 'm2', 'm3'], 'in order, one at a time')
  t.same(settled(peer.frames).sort(), ['ack:0', 'ack:1', 'ack:3', 'nack:2'])
  t.equal(errors.length, 1)
  t.match(errors[0]![0], { message: 'cannot handle m2' })
  t.equal(errors[0]![1].offset, 2)
  await t.rejects(consumer.next(), { name: 'SkiffError', codeName: 'INVALID_REQUEST' }, 'one style per consumer')
})

t.test('without autoAck the handler settles; a throw goes to the client error event when the consumer has no listener', async (t) => {
  const peer = await deliveringStandIn(2)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const errors: Error[] = []
  client.on('error', (e) => errors.push(e))
  const consumer = await client.subscribe('t', { group: 'g' })
  consumer.on('message', (msg: Message) => {
    if (msg.offset === 0) msg.term()
    else throw new Error('boom')
  })
  await waitFor('the error', () => errors.length === 1)
  await waitFor('the term', () => settled(peer.frames).length === 1)
  t.same(settled(peer.frames), ['term:0'], 'nothing settled for the message whose handler threw')
  t.match(errors[0], { message: 'boom' })
})

t.test('concurrency bounds how many handlers run at once', async (t) => {
  const peer = await deliveringStandIn(9)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  let running = 0
  let most = 0
  const release: (() => void)[] = []
  await client.subscribe('t', { group: 'g', autoAck: true, concurrency: 3 }, async () => {
    most = Math.max(most, ++running)
    await new Promise<void>((r) => release.push(r))
    running--
  })
  for (let round = 0; round < 3; round++) {
    await waitFor(`round ${round}`, () => release.length === 3)
    for (let i = 0; i < 5; i++) await turn()
    t.equal(running, 3, 'three at a time, no more')
    for (const r of release.splice(0)) r()
  }
  await waitFor('nine acks', () => settled(peer.frames).length === 9)
  t.equal(most, 3)
})

t.test('consumer.close() stops taking messages but lets taken ones be acked before leaving', async (t) => {
  const peer = await deliveringStandIn(5)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const consumer = await client.subscribe('t', { group: 'g' })
  const a = (await consumer.next()).value as Message
  const b = (await consumer.next()).value as Message
  await waitFor('the rest buffered', () => consumer.buffered === 3)
  const closing = consumer.close()
  t.same(await consumer.next(), { done: true, value: undefined }, 'no new messages once closing')
  for (let i = 0; i < 5; i++) await turn()
  t.notOk(peer.frames.some((f) => f.opcode === Op.UNSUBSCRIBE), 'still waiting for the taken messages')
  a.ack()
  b.nack({ delayMs: 10 })
  await closing
  const after = peer.frames.filter((f) => f.opcode === Op.ACK || f.opcode === Op.UNSUBSCRIBE).map((f) => f.name)
  t.same(after, ['ACK', 'ACK', 'UNSUBSCRIBE'], 'settlements first, then UNSUBSCRIBE')
  t.same(settled(peer.frames), ['ack:0', 'nack:1'])
  t.ok(consumer.closed)
})

t.test('consumer.close({ timeoutMs }) does not wait forever for a message nobody settles', async (t) => {
  const peer = await deliveringStandIn(1)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const consumer = await client.subscribe('t', { group: 'g' })
  await consumer.next()
  await consumer.close({ timeoutMs: 50 })
  t.ok(peer.frames.some((f) => f.opcode === Op.UNSUBSCRIBE), 'left the group; the broker redelivers the message')
  t.same(settled(peer.frames), [])
})

t.test('iterator with autoAck: a message is acked when the loop asks for the next; leaving the loop nacks the current one', async (t) => {
  const peer = await deliveringStandIn(4)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const consumer = await client.subscribe('t', { group: 'g', autoAck: true })
  const offsets: number[] = []
  for await (const msg of consumer) {
    offsets.push(msg.offset)
    if (msg.offset === 2) break
  }
  t.same(offsets, [0, 1, 2])
  await waitFor('unsubscribe', () => peer.frames.some((f) => f.opcode === Op.UNSUBSCRIBE))
  t.same(settled(peer.frames), ['ack:0', 'ack:1', 'nack:2'])
})

t.test('leaving a loop without autoAck nacks only an unsettled current message', async (t) => {
  const peer = await deliveringStandIn(3)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const consumer = await client.subscribe('t', { group: 'g' })
  try {
    for await (const msg of consumer) {
      if (msg.offset === 0) msg.ack()
      if (msg.offset === 1) throw new Error('handler bug')
    }
  } catch (err) {
    t.match(err, { message: 'handler bug' })
  }
  await waitFor('unsubscribe', () => peer.frames.some((f) => f.opcode === Op.UNSUBSCRIBE))
  t.same(settled(peer.frames), ['ack:0', 'nack:1'])
})

t.test('client.close() waits for running handlers, sends their acks, then closes', async (t) => {
  const peer = await deliveringStandIn(1)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  let finish!: () => void
  const started = new Promise<void>((startedResolve) =>
    void client.subscribe('t', { group: 'g', autoAck: true }, () => {
      startedResolve()
      return new Promise<void>((r) => (finish = r))
    }),
  )
  await started
  const closing = client.close()
  for (let i = 0; i < 5; i++) await turn()
  t.same(settled(peer.frames), [], 'the handler is still running')
  finish()
  await closing
  t.same(settled(peer.frames), ['ack:0'], 'its ack went out before the connection closed')
})
