/**
 * HELLO and PING handlers, driven in-process through the dispatcher: WELCOME
 * with the negotiated version and limits, the gate before HELLO, the refusals
 * that close, and PONG.
 */
import t from 'tap'
import { Op, SUPPORTED_VERSIONS, decodeWelcome, encodeHello, encodePing, encodeTopicList } from '../../../protocol/index.js'
import { PRE_AUTH_MAX_FRAME } from '../../../broker/gateway/connection.js'
import { errorOf, testGateway } from './harness.js'

const TOKEN = 'hello-token-0123456789abcdef'

t.test('without an auth file: WELCOME, PONG, and the gate before HELLO', async (t) => {
  const gw = await testGateway(t)
  const c = gw.connect()
  t.equal(c.decoder.maxFrame, PRE_AUTH_MAX_FRAME, 'the pre-handshake frame limit until HELLO')
  const w = await c.exchange(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'unit' }))
  t.equal(w.opcode, Op.WELCOME, 'HELLO is answered with WELCOME')
  t.match(decodeWelcome(w.body), { version: Math.max(...SUPPORTED_VERSIONS), connectionId: c.id, maxFrame: gw.ctx.config.maxFrame, heartbeatMs: gw.ctx.config.heartbeatMs })
  t.ok(c.ready, 'the connection is ready')
  t.equal(c.clientName, 'unit')
  t.equal(c.user?.via, 'anonymous', 'anonymous without an auth file')
  t.equal(c.decoder.maxFrame, gw.ctx.config.maxFrame, 'the frame limit is lifted to the negotiated one')

  t.equal((await c.exchange(encodePing())).opcode, Op.PONG, 'PING is answered with PONG')

  const again = errorOf(await c.exchange(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'unit' })))
  t.equal(again.name, 'INVALID_REQUEST', 'a second HELLO is INVALID_REQUEST')
  t.notOk(c.closed, 'and the connection stays open')

  const early = gw.connect()
  const e = errorOf(await early.exchange(encodeTopicList(7)))
  t.equal(e.name, 'UNAUTHORIZED', 'a request before HELLO is UNAUTHORIZED')
  t.ok(early.closed, 'and closes the connection')
})

t.test('a HELLO offering no version the broker speaks is UNSUPPORTED_VERSION and a close', async (t) => {
  const gw = await testGateway(t)
  const c = gw.connect()
  const e = errorOf(await c.exchange(encodeHello({ versions: [Math.max(...SUPPORTED_VERSIONS) + 100], client: 'future' })))
  t.equal(e.name, 'UNSUPPORTED_VERSION')
  t.same(e.details?.supported, [...SUPPORTED_VERSIONS], 'naming the versions it does speak')
  t.ok(c.closed)
  t.notOk(c.ready)
})

t.test('with an auth file: the token decides', async (t) => {
  const gw = await testGateway(t, { users: [{ name: 'app', token: TOKEN, publish: ['>'] }] })
  const good = gw.connect()
  const w = await good.exchange(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'unit', user: 'app', token: TOKEN }))
  t.equal(w.opcode, Op.WELCOME, 'the right token gets WELCOME')
  t.equal(good.user?.user, 'app', 'and the connection is the user the token names')

  for (const [name, hello] of [
    ['a wrong token', { user: 'app', token: 'not-the-token-0123456789' }],
    ['no token', {}],
  ] as const) {
    const c = gw.connect()
    const e = errorOf(await c.exchange(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'unit', ...hello })))
    t.equal(e.name, 'UNAUTHORIZED', `${name}: UNAUTHORIZED`)
    t.ok(c.closed, `${name}: closed`)
    t.notOk(c.ready, `${name}: never ready`)
  }
})
