import t from 'tap'
import { Op, encodeFrame, encodePing, encodeHello, encodeRawFrame, decodeWelcome, encodeTopicList } from '../../protocol/index.js'
import { RawPeer, testBroker } from './raw-peer.js'

t.test('handshake and connection rules', async (t) => {
  const broker = await testBroker(t, { authTimeoutMs: 300, idleTimeoutMs: 600, heartbeatMs: 100 })

  t.test('HELLO is answered by WELCOME with the negotiated limits', async (t) => {
    const p = await RawPeer.connect(broker.port)
    p.write(encodeHello({ versions: [7, 1], client: 'tester' }))
    const f = await p.waitFor((x) => x.opcode === Op.WELCOME)
    t.ok(f, 'WELCOME arrives')
    const w = decodeWelcome(f!.body)
    t.equal(w.version, 1)
    t.equal(w.maxFrame, broker.config.maxFrame)
    t.match(w.server, /^skiffmq\//)
    p.write(encodePing())
    t.ok(await p.waitFor((x) => x.opcode === Op.PONG), 'PING is answered by PONG')
    p.end()
  })

  t.test('a frame before HELLO gets UNAUTHORIZED and a close', async (t) => {
    const p = await RawPeer.connect(broker.port)
    p.write(encodeTopicList(1))
    t.ok(await p.waitClosed(), 'closed')
    t.equal(p.errors()[0]?.name, 'UNAUTHORIZED')
  })

  t.test('no version in common gets UNSUPPORTED_VERSION and a close', async (t) => {
    const p = await RawPeer.connect(broker.port)
    p.write(encodeHello({ versions: [99], client: 'future' }))
    t.ok(await p.waitClosed(), 'closed')
    t.equal(p.errors()[0]?.name, 'UNSUPPORTED_VERSION')
  })

  t.test('a silent socket is dropped after the auth timeout', async (t) => {
    const p = await RawPeer.connect(broker.port)
    t.ok(await p.waitClosed(3000), 'closed')
    t.equal(p.errors()[0]?.name, 'UNAUTHORIZED')
  })

  t.test('before HELLO a frame over 64 KiB is refused before it is buffered', async (t) => {
    const p = await RawPeer.connect(broker.port)
    const header = Buffer.alloc(5)
    header.writeUInt32BE(500_000, 0)
    header[4] = Op.HELLO
    p.write(header) // only the header: the broker must not wait for the body
    t.ok(await p.waitClosed(), 'closed')
    t.equal(p.errors()[0]?.name, 'FRAME_TOO_LARGE')
  })

  t.test('after HELLO a frame over maxFrame is FRAME_TOO_LARGE', async (t) => {
    const p = await RawPeer.ready(broker.port)
    const header = Buffer.alloc(5)
    header.writeUInt32BE(broker.config.maxFrame + 1, 0)
    header[4] = Op.PUBLISH
    p.write(header)
    t.ok(await p.waitClosed(), 'closed')
    t.equal(p.errors()[0]?.name, 'FRAME_TOO_LARGE')
  })

  t.test('an idle client is dropped with IDLE_TIMEOUT', async (t) => {
    const p = await RawPeer.ready(broker.port)
    t.ok(await p.waitClosed(3000), 'closed')
    t.equal(p.errors()[0]?.name, 'IDLE_TIMEOUT')
  })

  t.test('unknown and reserved opcodes are INVALID_REQUEST and the connection stays', async (t) => {
    const p = await RawPeer.ready(broker.port)
    p.write(encodeFrame(Op.TELEMETRY, { corr: 5 }))
    p.write(encodeRawFrame(0xee, Buffer.from([0x80])))
    p.write(encodeTopicList(6))
    t.ok(await p.waitFor((x) => x.opcode === Op.OK), 'a later request is still served')
    const errs = p.errors()
    t.equal(errs.length, 2)
    t.same(errs.map((e) => e.name), ['INVALID_REQUEST', 'INVALID_REQUEST'])
    t.equal(errs[0]!.corr, 5, 'the error names the request')
    t.notOk(p.closed)
    p.end()
  })

  t.test('a body that is not MessagePack is BAD_FRAME and closes only that connection', async (t) => {
    const bystander = await RawPeer.ready(broker.port)
    const p = await RawPeer.ready(broker.port)
    p.write(encodeRawFrame(Op.TOPIC_LIST, Buffer.from([0xc1, 0xc1, 0xc1])))
    t.ok(await p.waitClosed(), 'closed')
    t.equal(p.errors()[0]?.name, 'BAD_FRAME')
    bystander.write(encodeTopicList(9))
    t.ok(await bystander.waitFor((x) => x.opcode === Op.OK), 'the other client is still served')
    bystander.end()
  })
})
