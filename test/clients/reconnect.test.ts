/**
 * Reconnecting, seen from the wire: a stand-in peer (stand-in.ts) drops the
 * connection, goes away, comes back, misbehaves; the client must come back
 * with the same HELLO, subscribe again with the same options and re-send
 * unconfirmed batches verbatim. The real broker's side (dedup, redelivery)
 * is tested in test/e2e/reconnect.test.ts.
 */
import t from 'tap'
import { connect, type Client, type SkiffError } from '../../clients/index.js'
import { Op, SkiffError as WireError, decodeRecords, encodeDeliver, encodeError, encodeRecord, encodeWelcome } from '../../protocol/index.js'
import { startStandIn, waitFor, type Peer, type SeenFrame } from './stand-in.js'

const FAST = { initialDelayMs: 5, maxDelayMs: 20 }

/** Every event the client emits, in order, as [name, detail]. */
function record(client: Client): [string, any][] {
  const seen: [string, any][] = []
  for (const ev of ['connect', 'disconnect', 'reconnecting', 'reconnect', 'error', 'close'] as const) {
    client.on(ev as 'connect', (x: unknown) => seen.push([ev, x]))
  }
  return seen
}

const of = (frames: SeenFrame[], op: number) => frames.filter((f) => f.opcode === op)

t.test('a dropped connection comes back: same HELLO, events in order, status follows', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url, { name: 'orders-api', token: 'tok', reconnect: FAST })
  t.teardown(() => client.close())
  const events = record(client)
  t.equal(client.status, 'connected')
  // Read the status inside the event: with a 5 ms backoff a poll can miss the window.
  let statusWhileRetrying: string | undefined
  client.once('reconnecting', () => (statusWhileRetrying = client.status))
  peer.peers[0]!.socket.destroy()
  await waitFor('the reconnect event', () => events.some(([e]) => e === 'reconnect'))
  t.equal(statusWhileRetrying, 'reconnecting')
  t.equal(client.status, 'connected')
  t.same(
    events.map(([e]) => e),
    ['disconnect', 'reconnecting', 'connect', 'reconnect'],
  )
  t.match(events[0]![1], { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  t.match(events[1]![1], { attempt: 1, url: peer.url, error: { codeName: 'CONNECTION_CLOSED' } })
  t.ok(events[1]![1].delayMs >= 0 && events[1]![1].delayMs <= FAST.initialDelayMs, 'first delay within the initial bound')
  t.match(events[3]![1], { url: peer.url, attempts: 1, welcome: { server: 'stand-in' } })
  t.same(peer.peers[1]!.frames[0]!.body, { versions: [1], client: 'orders-api', token: 'tok' }, 'the same HELLO')
  t.same(await client.admin.listTopics(), [], 'requests work on the new connection')
})

t.test('unconfirmed publishes are re-sent verbatim, in order, before anything newer', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      // The first connection never confirms anything.
      if (f.opcode === Op.PUBLISH && p === peer.peers[0]) return
      p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: FAST })
  t.teardown(() => client.close())
  const producer = client.producer()
  const first = Array.from({ length: 5 }, (_, i) => producer.publish('orders', `a${i}`, { key: `k${i}` }))
  await waitFor('the first batch', () => of(peer.peers[0]!.frames, Op.PUBLISH).length === 1)
  const second = Array.from({ length: 3 }, (_, i) => producer.publish('audit', { i }))
  producer.send('metrics', 'fire-and-forget')
  await waitFor('three frames on the first connection', () => of(peer.peers[0]!.frames, Op.PUBLISH).length === 3)
  peer.peers[0]!.socket.destroy()
  await waitFor('the reconnect', () => peer.peers.length === 2)
  const later = producer.publish('orders', 'after')
  const results = await Promise.all([...first, ...second, later])
  t.equal(results.length, 9, 'every publish resolved')

  const before = of(peer.peers[0]!.frames, Op.PUBLISH).map((f) => f.body)
  const after = of(peer.peers[1]!.frames, Op.PUBLISH).map((f) => f.body)
  const confirmedBefore = before.filter((b) => b.confirm)
  t.equal(confirmedBefore.length, 2)
  t.same(
    after.slice(0, 2).map((b) => [b.topic, b.count, b.producerId, b.sequence, b.records.toString('hex')]),
    confirmedBefore.map((b) => [b.topic, b.count, b.producerId, b.sequence, b.records.toString('hex')]),
    're-sent first, byte for byte, with the same producer id and sequence',
  )
  t.same(confirmedBefore.map((b) => b.sequence), [0, 1])
  t.equal(confirmedBefore[0]!.producerId, producer.producerId)
  t.ok(producer.producerId > 0 && producer.producerId < 2 ** 48)
  t.match(after[2], { topic: 'orders', count: 1, sequence: 2, producerId: producer.producerId }, 'then what came after, numbered on')
  t.same(decodeRecords(after[2]!.records, 1)[0]!.payload.toString(), 'after')
  const ff = before.find((b) => !b.confirm)!
  t.equal(ff.producerId, undefined, 'fire-and-forget batches carry no producer id')
  t.equal(ff.sequence, undefined)
  t.notOk(after.some((b) => !b.confirm), 'and are not re-sent')
  t.match(producer.stats, { confirmed: 9, failed: 0, sent: 1, resentBatches: 2 })
})

t.test('a publish made while reconnecting waits and goes out on the next connection', async (t) => {
  const first = await startStandIn()
  const port = first.port
  const client = await connect(first.url, { reconnect: FAST, requestTimeoutMs: 10_000 })
  t.teardown(() => client.close())
  const producer = client.producer({ maxInFlight: 2 })
  await first.close() // the broker is gone
  await waitFor('reconnecting', () => client.status === 'reconnecting')
  let settled = 0
  const pending = Array.from({ length: 5 }, (_, i) => producer.publish('t', `m${i}`).finally(() => settled++))
  await new Promise((r) => setTimeout(r, 100))
  t.equal(settled, 0, 'nothing settles while there is no broker')
  t.equal(producer.unconfirmed, 2, 'no more than maxInFlight are admitted')
  const second = await startStandIn({ port })
  t.teardown(second.close)
  const results = await Promise.all(pending)
  t.same(results.map((r) => r.offset), [0, 1, 2, 3, 4], 'in call order')
  t.same(of(second.frames, Op.PUBLISH).map((f) => f.body.count), [2, 2, 1])
})

t.test('publish against a broker that is down fails with TIMEOUT after requestTimeoutMs', async (t) => {
  const peer = await startStandIn({ onFrame: (p, f) => f.opcode !== Op.PUBLISH && p.reply(f) })
  const client = await connect(peer.url, { reconnect: FAST, requestTimeoutMs: 300 })
  t.teardown(() => client.close())
  const producer = client.producer()
  const inFlight = producer.publish('t', 'sent, never confirmed')
  await waitFor('the publish on the wire', () => of(peer.frames, Op.PUBLISH).length === 1)
  await peer.close()
  const whileDown = producer.publish('t', 'never sent')
  await t.rejects(inFlight, { name: 'SkiffError', codeName: 'TIMEOUT', message: /publish to t not confirmed within 300 ms/ })
  await t.rejects(whileDown, { name: 'SkiffError', codeName: 'TIMEOUT', message: /not connected/ })
  t.match(producer.stats, { confirmed: 0, failed: 2 })
  t.equal(producer.unconfirmed, 0, 'slots are freed for later publishes')
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'TIMEOUT', message: /not connected to the broker within 300 ms/ })
})

t.test('admin requests in flight at a disconnect reject with CONNECTION_CLOSED; later ones wait', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.TOPIC_LIST && p === peer.peers[0]) p.socket.destroy()
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: { initialDelayMs: 50, maxDelayMs: 50 } })
  t.teardown(() => client.close())
  const err = (await client.admin.listTopics().catch((e) => e)) as SkiffError
  t.match(err, { name: 'SkiffError', codeName: 'CONNECTION_CLOSED', retriable: true })
  t.equal(client.status, 'reconnecting')
  t.same(await client.admin.listTopics(), [], 'a call made while reconnecting goes out once connected')
})

t.test('consumers subscribe again with the same options; the old connection’s messages are dropped', async (t) => {
  const deliver = (p: Peer, sub: number, offsets: number[]) =>
    p.send(encodeDeliver({ sub, messages: offsets.map((o) => [0, o, 1700000000000, 1, encodeRecord({ payload: Buffer.from(`m${o}`) })]) }))
  const peer = await startStandIn({
    onFrame: (p, f) => {
      p.reply(f)
      if (f.opcode === Op.SUBSCRIBE) deliver(p, f.body.sub, p === peer.peers[0] ? [0, 1, 2] : [1, 2, 3])
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: FAST })
  t.teardown(() => client.close())
  const consumer = await client.subscribe('orders', { group: 'billing', from: 'earliest', maxInFlight: 7, ackTimeoutMs: 4000, maxDeliveries: 3 })
  const it = consumer[Symbol.asyncIterator]()
  const m0 = (await it.next()).value
  t.equal(m0.offset, 0)
  await waitFor('two buffered', () => consumer.buffered === 2)
  peer.peers[0]!.socket.destroy()
  await waitFor('the second subscribe', () => peer.peers.length === 2 && of(peer.peers[1]!.frames, Op.SUBSCRIBE).length === 1)
  const [before] = of(peer.peers[0]!.frames, Op.SUBSCRIBE)
  const [again] = of(peer.peers[1]!.frames, Op.SUBSCRIBE)
  const { corr: _a, ...sameA } = before!.body
  const { corr: _b, ...sameB } = again!.body
  t.same(sameB, sameA, 'same sub id, topic, group, start and limits')
  t.match(sameB, { topic: 'orders', group: 'billing', start: 'earliest', maxInFlight: 7, ackTimeoutMs: 4000, maxDeliveries: 3 })
  t.equal(m0.ack(), true, 'settling a message from before the reconnect is accepted...')
  const next = await Promise.all([it.next(), it.next(), it.next()])
  t.same(next.map((r) => r.value.offset), [1, 2, 3], 'the iterator goes on with what the new connection delivers, the old buffered 1 and 2 dropped')
  for (const r of next) r.value.ack()
  await waitFor('the acks', () => of(peer.peers[1]!.frames, Op.ACK).length > 0)
  t.same(of(peer.peers[1]!.frames, Op.ACK).flatMap((f) => f.body.offsets), [1, 2, 3], '...but not sent: the broker redelivers it')
})

t.test('a subscription the broker refuses after a reconnect ends that consumer with the error', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.SUBSCRIBE && p !== peer.peers[0] && f.body.topic === 'gone') p.send(encodeError(new WireError('UNKNOWN_TOPIC', 'no topic gone'), f.body.corr))
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: FAST })
  t.teardown(() => client.close())
  const errors: Error[] = []
  client.on('error', (e) => errors.push(e))
  const gone = await client.subscribe('gone', { group: 'g' })
  const kept = await client.subscribe('kept', { group: 'g' })
  const reading = gone.next()
  const reconnected = new Promise((r) => client.once('reconnect', r))
  peer.peers[0]!.socket.destroy()
  await t.rejects(reading, { name: 'SkiffError', codeName: 'UNKNOWN_TOPIC', message: /subscribing gone as g again after a reconnect failed/ })
  t.same(await gone.next(), { done: true, value: undefined })
  await reconnected
  t.notOk(kept.closed, 'the other consumer is fine')
  t.match(errors, [{ codeName: 'UNKNOWN_TOPIC' }])
})

t.test('heartbeat silence is an IDLE_TIMEOUT error, then a reconnect', async (t) => {
  const peer = await startStandIn({
    welcome: { heartbeatMs: 30, idleTimeoutMs: 60 },
    onFrame: (p, f) => {
      if (f.opcode === Op.PING && p === peer.peers[0]) return // the first connection goes silent
      p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: FAST })
  t.teardown(() => client.close())
  const events = record(client)
  await waitFor('the reconnect', () => events.some(([e]) => e === 'reconnect'))
  t.match(events.find(([e]) => e === 'disconnect')![1], { codeName: 'IDLE_TIMEOUT', message: /nothing received from the broker for \d+ ms/ })
  t.match(events.find(([e]) => e === 'error')![1], { codeName: 'IDLE_TIMEOUT' }, 'a fault, so also an error event')
})

t.test('garbage from the broker is reported, then the client reconnects', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.TOPIC_LIST && p === peer.peers[0]) p.socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: FAST })
  t.teardown(() => client.close())
  const events = record(client)
  await t.rejects(client.admin.listTopics(), { codeName: 'CONNECTION_CLOSED' })
  await waitFor('the reconnect', () => events.some(([e]) => e === 'reconnect'))
  t.match(events.find(([e]) => e === 'error')![1], { codeName: 'FRAME_TOO_LARGE' })
  t.same(await client.admin.listTopics(), [])
})

t.test('a publish answered SHUTTING_DOWN is re-sent after the reconnect, not failed', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.PUBLISH && p === peer.peers[0]) {
        p.send(encodeError(new WireError('SHUTTING_DOWN'), f.body.corr))
        p.send(encodeError(new WireError('SHUTTING_DOWN', 'restarting')))
        p.socket.end()
      } else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: FAST })
  t.teardown(() => client.close())
  const events = record(client)
  t.same(await client.producer().publish('t', 'x'), { partition: 0, offset: 0 })
  const reason = events.find(([e]) => e === 'disconnect')![1]
  t.match(reason, { codeName: 'CONNECTION_CLOSED', message: /restarting/, cause: { codeName: 'SHUTTING_DOWN' } }, 'the farewell explains the close')
  t.notOk(events.some(([e]) => e === 'error'), 'a broker restarting is not an error')
})

t.test('a list of URLs: the client moves on to the next broker', async (t) => {
  const a = await startStandIn()
  const b = await startStandIn()
  t.teardown(b.close)
  const client = await connect([a.url, b.url], { reconnect: FAST })
  t.teardown(() => client.close())
  const events = record(client)
  t.equal(a.peers.length, 1, 'the first URL first')
  await a.close()
  await waitFor('the reconnect', () => events.some(([e]) => e === 'reconnect'))
  t.match(events.find(([e]) => e === 'reconnecting')![1], { attempt: 1, url: b.url })
  t.match(events.find(([e]) => e === 'reconnect')![1], { url: b.url })
  t.equal(b.peers.length, 1)
})

t.test('connect() to a list tries each URL once; all down is one error naming them', async (t) => {
  const b = await startStandIn()
  t.teardown(b.close)
  const dead = await startStandIn()
  await dead.close()
  const dead2 = await startStandIn()
  await dead2.close()
  const client = await connect([dead.url, b.url])
  t.teardown(() => client.close())
  t.equal(b.peers.length, 1, 'the second answered')
  await t.rejects(connect([dead.url, dead2.url]), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED', message: /cannot connect to any broker: .*ECONNREFUSED.*; .*ECONNREFUSED/ })
})

t.test('maxAttempts: the client gives up, closes and fails what waits', async (t) => {
  const peer = await startStandIn()
  const client = await connect(peer.url, { reconnect: { initialDelayMs: 1, maxDelayMs: 5, maxAttempts: 3 }, requestTimeoutMs: 10_000 })
  const events = record(client)
  const consumer = await client.subscribe('t', { group: 'g' })
  const reading = consumer.next()
  const closed = new Promise<SkiffError | undefined>((r) => client.once('close', r))
  await peer.close()
  const pending = client.producer().publish('t', 'x')
  const reason = await closed
  t.match(reason, { codeName: 'CONNECTION_CLOSED', message: /gave up reconnecting after 3 attempts/ })
  t.equal(events.filter(([e]) => e === 'reconnecting').length, 3)
  t.equal(client.status, 'closed')
  await t.rejects(pending, { codeName: 'CONNECTION_CLOSED' })
  await t.rejects(reading, { codeName: 'CONNECTION_CLOSED', message: /gave up/ })
  t.throws(() => client.producer(), { codeName: 'CONNECTION_CLOSED' })
  await client.close()
})

t.test('UNAUTHORIZED on a reconnect ends the retrying', async (t) => {
  const peer = await startStandIn({
    noWelcome: true,
    onFrame: (p, f) => {
      if (f.opcode !== Op.HELLO) return p.reply(f)
      if (peer.peers.length === 1) p.send(encodeWelcomeFrame())
      else p.send(encodeError(new WireError('UNAUTHORIZED', 'token revoked')))
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: FAST })
  const closed = new Promise<SkiffError | undefined>((r) => client.once('close', r))
  peer.peers[0]!.socket.destroy()
  t.match(await closed, { codeName: 'UNAUTHORIZED', message: /token revoked/ })
  t.equal(peer.peers.length, 2, 'one attempt only')
})

t.test('reconnect: false closes on the first loss, as before', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: false })
  const events = record(client)
  peer.peers[0]!.socket.destroy()
  await waitFor('close', () => events.some(([e]) => e === 'close'))
  t.same(events.map(([e]) => e), ['disconnect', 'error', 'close'])
  t.equal(peer.peers.length, 1)
})

function encodeWelcomeFrame(): Buffer {
  // The stand-in's usual WELCOME, sent by hand where the test controls the handshake.
  return encodeWelcome({ version: 1, server: 'stand-in', connectionId: 1, maxFrame: 1024 * 1024, heartbeatMs: 5000, idleTimeoutMs: 30000 })
}
