/**
 * How the client copes with a peer that misbehaves or goes quiet: every case
 * ends in a SkiffError with a stable code, never a crash or a hang. Tests of
 * what ends a connection run with `reconnect: false`, so the loss is final
 * and visible; reconnect.test.ts covers the same faults with reconnecting on.
 */
import t from 'tap'
import net from 'node:net'
import { connect, isSkiffError, SkiffError } from '../../clients/index.js'
import { Op, encodeError, encodePing, encodeRawFrame } from '../../protocol/index.js'
import { startStandIn, waitFor } from './stand-in.js'

function closedWith(client: { once(ev: 'close', fn: (r?: SkiffError) => void): unknown }): Promise<SkiffError | undefined> {
  return new Promise((resolve) => client.once('close', resolve))
}

t.test('HELLO carries the versions, the name and the token', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url, { name: 'billing-api', token: 's3cret' })
  t.teardown(() => client.close())
  t.same(peer.frames[0], { opcode: Op.HELLO, name: 'HELLO', body: { versions: [1], client: 'billing-api', token: 's3cret' } })
  t.equal(client.welcome.server, 'stand-in')
})

t.test('a refused HELLO rejects connect() with the broker code', async (t) => {
  const peer = await startStandIn({
    noWelcome: true,
    onFrame: (p, f) => {
      if (f.opcode === Op.HELLO) p.send(encodeError(new SkiffError('UNAUTHORIZED', 'bad token')))
    },
  })
  t.teardown(peer.close)
  await t.rejects(connect(peer.url, { token: 'nope' }), { name: 'SkiffError', codeName: 'UNAUTHORIZED', message: /bad token/ })
})

t.test('no WELCOME within connectTimeoutMs is a TIMEOUT; a closed port is CONNECTION_CLOSED', async (t) => {
  const peer = await startStandIn({ noWelcome: true, onFrame: () => {} })
  t.teardown(peer.close)
  await t.rejects(connect(peer.url, { connectTimeoutMs: 100 }), { name: 'SkiffError', codeName: 'TIMEOUT' })
  const spare = net.createServer()
  await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r))
  const port = (spare.address() as net.AddressInfo).port
  await new Promise((r) => spare.close(r))
  await t.rejects(connect(`skiff://127.0.0.1:${port}`, { connectTimeoutMs: 2000 }), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED', message: /ECONNREFUSED/ })
  await t.rejects(connect(`udp://127.0.0.1:${port}`), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
})

t.test('a request with no answer fails with TIMEOUT; the connection stays usable', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode !== Op.TOPIC_LIST) p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { requestTimeoutMs: 150 })
  t.teardown(() => client.close())
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'TIMEOUT', message: /list topics/ })
  t.same(await client.admin.describeTopic('x'), {}, 'later requests still answered')
})

t.test('ERROR with corr rejects that request only', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.PUBLISH && f.body.topic === 'bad') p.send(encodeError(new SkiffError('FORBIDDEN', 'no writes to bad'), f.body.corr))
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer()
  const [bad, good] = await Promise.allSettled([producer.publish('bad', 'x'), producer.publish('good', 'y')])
  t.match(bad, { status: 'rejected', reason: { name: 'SkiffError', codeName: 'FORBIDDEN', message: 'no writes to bad' } })
  t.match(good, { status: 'fulfilled', value: { partition: 0 } })
})

t.test('a fire-and-forget publish that fails is reported as an error event', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.PUBLISH) p.send(encodeError(new SkiffError('UNKNOWN_TOPIC', 'no topic x'), f.body.corr))
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const errors: SkiffError[] = []
  client.on('error', (e) => errors.push(e as SkiffError))
  client.producer().send('x', 'hello')
  await waitFor('the error event', () => errors.length === 1)
  t.equal(errors[0]!.codeName, 'UNKNOWN_TOPIC')
  t.match(errors[0]!.message, /fire-and-forget publish \d+ failed: no topic x/)
})

t.test('garbage from the server closes the connection with an error, not a crash', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.TOPIC_LIST) p.socket.write(encodeRawFrame(Op.OK, Buffer.from([0xc1, 0xff, 0x00])))
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: false })
  const errors: Error[] = []
  client.on('error', (e) => errors.push(e))
  const closed = closedWith(client)
  const pending = client.producer({}).publish('never-answered', 'x')
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  const reason = await closed
  t.ok(reason && ['BAD_FRAME', 'INVALID_REQUEST'].includes(reason.codeName), `closed with ${reason?.codeName}: ${reason?.message}`)
  t.equal(errors.length, 1, 'one error event')
  t.ok(client.closed)
  // The publish was answered before the garbage arrived or failed with it; either way it settles.
  await Promise.allSettled([pending])
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' }, 'later calls fail fast')
  t.throws(() => client.producer(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
})

t.test('random bytes instead of frames: error, close, and no error listener needed', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.TOPIC_LIST) p.socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: false })
  const closed = closedWith(client)
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  t.match(await closed, { name: 'SkiffError', codeName: 'FRAME_TOO_LARGE' }, '"HTTP" read as a length is far beyond maxFrame')
})

t.test('a frame over WELCOME.maxFrame is rejected before it is buffered', async (t) => {
  const peer = await startStandIn({
    welcome: { maxFrame: 1024 },
    onFrame: (p, f) => {
      if (f.opcode !== Op.TOPIC_LIST) return p.reply(f)
      const header = Buffer.alloc(5)
      header.writeUInt32BE(5000, 0)
      header[4] = Op.OK
      p.socket.write(header) // only the header: the client must not wait for 5000 bytes
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: false })
  const closed = closedWith(client)
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  t.match(await closed, { name: 'SkiffError', codeName: 'FRAME_TOO_LARGE', message: /5000 bytes exceeds the maximum of 1024/ })
})

t.test('a huge maxFrame in WELCOME does not make the client buffer a huge frame', async (t) => {
  const peer = await startStandIn({
    welcome: { maxFrame: 0xffffffff },
    onFrame: (p, f) => {
      if (f.opcode !== Op.TOPIC_LIST) return p.reply(f)
      const header = Buffer.alloc(5)
      header.writeUInt32BE(3 * 1024 * 1024 * 1024, 0) // announces 3 GiB, sends nothing more
      header[4] = Op.OK
      p.socket.write(header)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: false, maxReceiveFrame: 8 * 1024 * 1024 })
  const closed = closedWith(client)
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  t.match(await closed, { name: 'SkiffError', codeName: 'FRAME_TOO_LARGE', message: /exceeds the maximum of 8388608/ })
})

t.test('the client will not send a frame over the broker maxFrame', async (t) => {
  const peer = await startStandIn({ welcome: { maxFrame: 2048 } })
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer()
  await t.rejects(producer.publish('t', Buffer.alloc(4000)), { name: 'SkiffError', codeName: 'FRAME_TOO_LARGE' })
  t.same(await producer.publish('t', Buffer.alloc(1000)), { partition: 0, offset: 0 }, 'a record that fits still goes')
  // Records that fit alone but not together are split over frames.
  await Promise.all([producer.publish('t', Buffer.alloc(1000)), producer.publish('t', Buffer.alloc(1000))])
  const sizes = peer.frames.filter((f) => f.opcode === Op.PUBLISH).map((f) => f.body.count)
  t.same(sizes, [1, 1, 1])
})

t.test('heartbeats: PING when idle, PONG to the broker PING, dead peer detected', async (t) => {
  let answerPings = true
  const peer = await startStandIn({
    welcome: { heartbeatMs: 40, idleTimeoutMs: 100 },
    onFrame: (p, f) => {
      if (f.opcode !== Op.PING || answerPings) p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: false })
  const closed = closedWith(client)
  await waitFor('two PINGs', () => peer.frames.filter((f) => f.opcode === Op.PING).length >= 2)
  peer.peers[0]!.send(encodePing())
  await waitFor('a PONG', () => peer.frames.some((f) => f.opcode === Op.PONG))
  answerPings = false
  const reason = await closed
  t.match(reason, { name: 'SkiffError', codeName: 'IDLE_TIMEOUT', message: /nothing received from the broker/ })
})

t.test('a fatal connection-level ERROR closes; a non-fatal one is only reported', async (t) => {
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.TOPIC_LIST) p.send(encodeError(new SkiffError('INTERNAL', 'a hiccup')))
      else if (f.opcode === Op.TOPIC_DELETE) p.send(encodeError(new SkiffError('SLOW_CONSUMER', 'too slow')))
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { requestTimeoutMs: 200, reconnect: false })
  const errors: SkiffError[] = []
  client.on('error', (e) => errors.push(e as SkiffError))
  await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'TIMEOUT' })
  t.equal(errors[0]?.codeName, 'INTERNAL')
  t.notOk(client.closed)
  const closed = closedWith(client)
  await t.rejects(client.admin.deleteTopic('x'), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  t.match(await closed, { name: 'SkiffError', codeName: 'SLOW_CONSUMER' })
})

t.test('close() drains unconfirmed publishes, then rejects what is left', async (t) => {
  const held: (() => void)[] = []
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.PUBLISH && f.body.topic === 'slow') setTimeout(() => p.reply(f), 50)
      else if (f.opcode === Op.PUBLISH && f.body.topic === 'never') held.push(() => p.reply(f))
      else p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { drainTimeoutMs: 300 })
  const producer = client.producer()
  const slow = producer.publish('slow', 'a')
  const never = producer.publish('never', 'b')
  const closing = client.close()
  t.throws(() => client.producer(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' }, 'no new producers while closing')
  t.same(await slow, { partition: 0, offset: 0 }, 'confirmed during the drain')
  await t.rejects(never, { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  await closing
  await t.rejects(producer.publish('slow', 'c'), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  t.equal(held.length, 1)
})

t.test('the consumer iterator throws once when the connection is lost for good, then ends', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: false })
  const consumer = await client.subscribe('t', { group: 'g' })
  const reading = consumer.next()
  peer.peers[0]!.socket.destroy()
  await t.rejects(reading, { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
  t.same(await consumer.next(), { done: true, value: undefined })
})

t.test('client.close() ends a waiting iterator cleanly', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  const consumer = await client.subscribe('t', { group: 'g', from: { timestamp: new Date(1700000000000) } })
  t.match(peer.frames.find((f) => f.opcode === Op.SUBSCRIBE)!.body, { start: 'timestamp', startValue: 1700000000000, maxInFlight: 500 })
  const got: unknown[] = []
  const loop = (async () => {
    for await (const m of consumer) got.push(m)
  })()
  await client.close()
  await loop
  t.same(got, [])
  t.ok(isSkiffError(await client.subscribe('t', { group: 'g' }).catch((e) => e), 'CONNECTION_CLOSED'))
})

t.test('bad subscribe arguments are refused before anything is sent', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  await t.rejects(client.subscribe('bad topic', { group: 'g' }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  await t.rejects(client.subscribe('t', { group: '' }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  await t.rejects(client.subscribe('t', { group: 'g', maxInFlight: 0 }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  await t.rejects(client.subscribe('t', { group: 'g', from: { offset: -1 } }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  await t.rejects(client.producer().publish('a/b', 'x'), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  t.throws(() => client.producer({ maxInFlight: 0 }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  t.equal(peer.frames.filter((f) => f.opcode !== Op.HELLO).length, 0)
})

t.test('a timing option that is not a positive number is refused before any connection, naming it', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  await t.rejects(connect(peer.url, { metadataRefreshMs: 0 }), { codeName: 'INVALID_REQUEST', message: /metadataRefreshMs must be a positive number, got 0/ })
  await t.rejects(connect(peer.url, { requestTimeoutMs: -5 }), { codeName: 'INVALID_REQUEST', message: /requestTimeoutMs must be a positive number, got -5/ })
  t.equal(peer.frames.length, 0, 'nothing reached the broker')
})

t.test('the liveness probe: a PING after a quiet spell; unresponsive only once that PING goes unanswered as long', async (t) => {
  let answering = true
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (answering) p.reply(f)
    },
  })
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: false })
  t.teardown(() => client.close())
  const conn = client.current!
  const pings = () => peer.frames.filter((f) => f.opcode === Op.PING).length
  const start = Date.now()
  t.equal(conn.unresponsive(150, start), false, 'just connected: nothing to ask')
  t.equal(pings(), 0, 'and no PING sent')
  await new Promise((r) => setTimeout(r, 200))
  t.equal(conn.unresponsive(150), false, 'quiet for longer than 150 ms: a PING goes out, not a verdict yet')
  await waitFor('the first PING', () => pings() === 1)
  await new Promise((r) => setTimeout(r, 20)) // its PONG comes back meanwhile
  t.equal(conn.unresponsive(150), false, 'the broker answered the PING: responsive')
  t.equal(pings(), 1, 'and heard from lately: no PING')
  answering = false
  await new Promise((r) => setTimeout(r, 200))
  t.equal(conn.unresponsive(150), false, 'quiet again: another PING')
  await waitFor('the second PING', () => pings() === 2)
  await new Promise((r) => setTimeout(r, 200))
  t.equal(conn.unresponsive(150), true, 'that PING unanswered for longer than 150 ms: unresponsive')
  t.equal(pings(), 2, 'without piling up PINGs')
  t.equal(client.status, 'connected', 'the connection is kept: a paused broker comes back')
})
