/**
 * Batching and flow control, seen from the wire: a stand-in peer records the
 * frames the client writes (see stand-in.ts).
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { Op, decodeRecords, encodeDeliver, encodeRecord, encodePublishAck } from '../../protocol/index.js'
import { startHoldingStandIn, startStandIn, turn, waitFor } from './stand-in.js'

const publishes = (frames: { opcode: number; body: any }[]) => frames.filter((f) => f.opcode === Op.PUBLISH)

t.test('publishes of one turn for one topic go out as one PUBLISH frame', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer()
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => producer.publish('orders', `order ${i}`, { key: `k${i % 3}` })))
  const frames = publishes(peer.frames)
  t.equal(frames.length, 1, 'one frame')
  t.equal(frames[0]!.body.count, 50)
  t.equal(frames[0]!.body.topic, 'orders')
  t.equal(frames[0]!.body.confirm, true)
  const recs = decodeRecords(frames[0]!.body.records, 50)
  t.same(recs.map((r) => r.payload.toString()), Array.from({ length: 50 }, (_, i) => `order ${i}`), 'in publish order')
  t.equal(recs[4]!.key, 'k1')
  t.equal(recs[4]!.headers['content-type'], 'text/plain; charset=utf-8')
  t.same(results.map((r) => r.offset), Array.from({ length: 50 }, (_, i) => i), 'each publish gets its own offset from the compact ack')
})

t.test('one frame per topic, and a full batch goes out early', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer({ maxInFlight: 5000 })
  const all: Promise<unknown>[] = []
  for (let i = 0; i < 2500; i++) all.push(producer.publish('a', Buffer.from([i & 255])))
  for (let i = 0; i < 10; i++) all.push(producer.publish('b', Buffer.from([i])))
  // 1000-record batches are written before the turn ends; the rest waits for setImmediate.
  t.equal(publishes(peer.frames).length, 0, 'nothing has arrived yet (same turn)')
  await Promise.all(all)
  const frames = publishes(peer.frames)
  t.same(frames.map((f) => [f.body.topic, f.body.count]), [['a', 1000], ['a', 1000], ['a', 500], ['b', 10]])
})

t.test('maxInFlight: publish waits while that many records are unconfirmed', async (t) => {
  const { peer, held } = await startHoldingStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer({ maxInFlight: 10 })
  let confirmed = 0
  const all = Array.from({ length: 25 }, (_, i) => producer.publish('t', Buffer.from([i])).then((r) => (confirmed++, r)))
  await waitFor('the first batch', () => publishes(peer.frames).length === 1)
  for (let i = 0; i < 5; i++) await turn()
  t.equal(publishes(peer.frames).length, 1, 'no second batch while 10 are unconfirmed')
  t.equal(publishes(peer.frames)[0]!.body.count, 10)
  t.equal(producer.unconfirmed, 10)
  t.equal(confirmed, 0)
  held.shift()!()
  await waitFor('the second batch', () => publishes(peer.frames).length === 2)
  t.equal(publishes(peer.frames)[1]!.body.count, 10)
  held.shift()!()
  await waitFor('the third batch', () => publishes(peer.frames).length === 3)
  t.equal(publishes(peer.frames)[2]!.body.count, 5)
  held.shift()!()
  const results = await Promise.all(all)
  t.same(results.map((r) => r.offset), Array.from({ length: 25 }, (_, i) => i), 'order kept across waits')
})

t.test('send() is fire-and-forget; flush() waits for writes and confirms', async (t) => {
  const { peer, held } = await startHoldingStandIn((f) => f.body.confirm)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer()
  for (let i = 0; i < 20; i++) t.equal(producer.send('metrics', { cpu: i }), true)
  const confirmed = producer.publish('orders', 'x')
  let flushed = false
  const flushing = producer.flush().then(() => (flushed = true))
  await waitFor('both frames', () => publishes(peer.frames).length === 2)
  const ff = publishes(peer.frames).find((f) => f.body.topic === 'metrics')!
  t.equal(ff.body.confirm, false)
  t.equal(ff.body.count, 20)
  await turn()
  t.equal(flushed, false, 'flush still waits for the confirm')
  held.shift()!()
  await flushing
  t.same(await confirmed, { partition: 0, offset: 0 })
})

t.test('a per-record ack (arrays) maps partitions and offsets to each publish', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode !== Op.PUBLISH) return p.reply(f)
      const n = f.body.count
      p.send(encodePublishAck({ corr: f.body.corr, partition: Array.from({ length: n }, (_, i) => i % 2), offset: Array.from({ length: n }, (_, i) => 100 + i) }))
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer()
  const results = await Promise.all([0, 1, 2].map((i) => producer.publish('t', Buffer.from([i]))))
  t.same(results, [
    { partition: 0, offset: 100 },
    { partition: 1, offset: 101 },
    { partition: 0, offset: 102 },
  ])
})

t.test('acks of one turn go out as one ACK frame per kind', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      p.reply(f)
      if (f.opcode === Op.SUBSCRIBE) {
        const recs = Array.from({ length: 6 }, (_, i) => encodeRecord({ key: `k${i}`, headers: { 'content-type': 'text/plain' }, payload: Buffer.from(`m${i}`) }))
        p.send(encodeDeliver({ sub: f.body.sub, messages: recs.map((r, i) => [0, 10 + i, 1700000000000 + i, 1, r]) }))
      }
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const consumer = await client.subscribe('orders', { group: 'billing', from: 'earliest', maxInFlight: 6 })
  t.same(consumer.partitions, [0])
  const sub = peer.frames.find((f) => f.opcode === Op.SUBSCRIBE)!.body
  t.match(sub, { topic: 'orders', group: 'billing', start: 'earliest', maxInFlight: 6 })
  const seen: string[] = []
  for await (const msg of consumer) {
    seen.push(msg.decode())
    t.equal(msg.topic, 'orders')
    t.equal(msg.key, `k${msg.offset - 10}`)
    t.equal(msg.deliveryCount, 1)
    if (msg.offset === 11) msg.nack({ delayMs: 250 })
    else if (msg.offset === 12) msg.term()
    else t.equal(msg.ack(), true)
    t.equal(msg.ack(), false, 'settling twice is ignored')
    if (seen.length === 6) break
  }
  t.same(seen, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'])
  await waitFor('unsubscribe', () => peer.frames.some((f) => f.opcode === Op.UNSUBSCRIBE))
  const acks = peer.frames.filter((f) => f.opcode === Op.ACK).map((f) => f.body)
  t.same(
    acks.map((a) => [a.kind, a.offsets, a.delayMs]),
    [
      ['ack', [10, 13, 14, 15], undefined],
      ['nack', [11], 250],
      ['term', [12], undefined],
    ],
    'one ACK per kind, in the same turn as the messages were read',
  )
  t.ok(acks.every((a) => a.sub === sub.sub))
  t.ok(consumer.closed, 'break closed the consumer')
})

t.test('a peer that stops reading stops the producer writing: it waits for drain', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  await waitFor('the peer', () => peer.peers.length === 1)
  peer.peers[0]!.socket.pause()
  const producer = client.producer({ maxInFlight: 4000 })
  const payload = Buffer.alloc(8 * 1024, 1)
  const all = Array.from({ length: 2000 }, () => producer.publish('big', payload)) // 16 MiB
  let most = 0
  for (let i = 0; i < 400 && !client.connection.needsDrain; i++) await turn()
  t.ok(client.connection.needsDrain, 'the socket reports congestion')
  for (let i = 0; i < 20; i++) {
    most = Math.max(most, client.connection.bufferedBytes)
    await turn()
  }
  // One batch may overshoot the socket's high-water mark; nothing beyond it is handed to the socket.
  t.ok(most <= 256 * 1024 + 64 * 1024, `at most one batch over the high-water mark buffered in the socket (${most} bytes)`)
  peer.peers[0]!.socket.resume()
  const results = await Promise.all(all)
  t.equal(results.length, 2000)
  t.same(results.at(-1), { partition: 0, offset: 1999 }, 'everything arrives once the peer reads again')
})

t.test('send() drops (returns false) past maxBufferedBytes, and after the connection is gone', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  const producer = client.producer({ maxBufferedBytes: 64 * 1024 })
  const record = Buffer.alloc(8 * 1024 - 10) // 8 KiB with the record overhead
  const accepted = Array.from({ length: 20 }, () => producer.send('telemetry', record)).filter(Boolean).length
  t.equal(accepted, 8, 'eight 8 KiB records fit in 64 KiB; the rest of the turn is dropped')
  await producer.flush()
  t.equal(producer.send('telemetry', record), true, 'room again once written')
  await producer.flush()
  await waitFor('two frames', () => publishes(peer.frames).length === 2)
  t.same(publishes(peer.frames).map((f) => f.body.count), [8, 1])
  await client.close()
  t.equal(producer.send('telemetry', record), false)
  t.throws(() => client.producer().send('bad/topic', 'x'), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
})
