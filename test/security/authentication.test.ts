/**
 * Authentication against a live broker with an auth file: who gets in, who
 * gets UNAUTHORIZED and a close, and that nothing a stranger sends is acted on.
 */
import t from 'tap'
import {
  Op,
  SUPPORTED_VERSIONS,
  encodeFrame,
  encodeHello,
  encodePublish,
  encodeRecord,
  encodeTopicList,
  pack,
  encodeRawFrame,
} from '../../protocol/index.js'
import { connect } from '../../clients/index.js'
import { startBroker } from '../../broker/index.js'
import { resolveConfig } from '../../broker/config.js'
import { hashToken } from '../../broker/auth/index.js'
import { RawPeer, TOKENS, authBroker, answer, login, welcomed } from './helpers.js'

const record = encodeRecord({ payload: Buffer.from('x') })

t.test('tokens', async (t) => {
  const { broker } = await authBroker(t, [
    { name: 'app', token: TOKENS.app, publish: ['orders.>'], subscribe: ['orders.>'] },
    { name: 'hashed', tokenHash: await hashToken(TOKENS.reader, { ln: 10, r: 8, p: 1 }), publish: ['orders.>'] },
    { name: 'old', token: TOKENS.nobody, publish: ['>'], expires: '2001-01-01T00:00:00Z' },
  ])

  for (const [what, token, reason] of [
    ['no token', undefined, /requires a token/],
    ['an empty token', '', /requires a token/],
    ['a wrong token', 'wrong-token-0123456789abcdef', /not valid/],
    ['a right token with a byte changed', TOKENS.app.slice(0, -1) + 'g', /not valid/],
    ['a prefix of a right token', TOKENS.app.slice(0, 20), /not valid/],
    ['a right token plus a byte', TOKENS.app + 'x', /not valid/],
    ['an expired file entry', TOKENS.nobody, /expired/],
  ] as const) {
    t.test(`${what}: UNAUTHORIZED and a close`, async (t) => {
      const p = await login(broker.port, token)
      t.ok(await p.waitClosed(), 'closed')
      t.notOk(welcomed(p), 'no WELCOME')
      t.match(p.errors(), [{ name: 'UNAUTHORIZED', message: reason }])
    })
  }

  t.test('a hashed token without its user name: UNAUTHORIZED saying to name the user', async (t) => {
    const p = await login(broker.port, TOKENS.reader)
    t.ok(await p.waitClosed(), 'closed')
    t.match(p.errors(), [{ name: 'UNAUTHORIZED', message: /tokenHash must also be named in HELLO/ }])
  })

  t.test('an unknown user name gets the answer of a wrong token', async (t) => {
    const unknown = await login(broker.port, TOKENS.reader, { user: 'no-such-user' })
    const wrong = await login(broker.port, 'wrong-token-0123456789abcdef', { user: 'hashed' })
    t.ok((await unknown.waitClosed()) && (await wrong.waitClosed()), 'both closed')
    t.same(
      unknown.errors().map((e) => [e.name, e.message]),
      wrong.errors().map((e) => [e.name, e.message]),
      'the same error and text',
    )
  })

  t.test('a right token (plain, or hashed with its user) gets WELCOME', async (t) => {
    for (const [token, user] of [[TOKENS.app, undefined], [TOKENS.app, 'app'], [TOKENS.reader, 'hashed']] as const) {
      const p = await login(broker.port, token, user ? { user } : {})
      t.ok(welcomed(p), 'welcomed')
      p.write(encodePublish({ corr: 1, topic: 'orders.eu', count: 1, records: record, confirm: true }))
      t.match(await answer(p, 1), { ok: true }, 'and may publish')
      p.end()
    }
  })

  t.test('any frame before HELLO: UNAUTHORIZED, a close, and it is not acted on', async (t) => {
    for (const frame of [encodePublish({ corr: 1, topic: 'orders.stranger', count: 1, records: record, confirm: true }), encodeTopicList(2), encodeFrame(Op.PING, {})]) {
      const p = await RawPeer.connect(broker.port)
      p.write(frame)
      t.ok(await p.waitClosed(), 'closed')
      t.match(p.errors(), [{ name: 'UNAUTHORIZED' }])
    }
    const admin = await login(broker.port, TOKENS.app)
    admin.write(encodeTopicList(3))
    const list = await answer(admin, 3)
    t.notOk((list.result as { topic: string }[]).some((x) => x.topic === 'orders.stranger'), 'the stranger created nothing')
    admin.end()
  })

  t.test('frames pipelined behind HELLO wait for its verdict', async (t) => {
    const good = await RawPeer.connect(broker.port)
    good.write(
      Buffer.concat([
        encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 't', token: TOKENS.reader, user: 'hashed' }), // hashed: checked off the event loop
        encodePublish({ corr: 7, topic: 'orders.pipelined', count: 1, records: record, confirm: true }),
      ]),
    )
    t.match(await answer(good, 7), { ok: true }, 'served once the token checked out')
    good.end()

    const bad = await RawPeer.connect(broker.port)
    bad.write(
      Buffer.concat([
        encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 't', token: 'wrong-token-0123456789abcdef' }),
        encodePublish({ corr: 8, topic: 'orders.smuggled', count: 1, records: record, confirm: true }),
      ]),
    )
    t.ok(await bad.waitClosed(), 'closed')
    t.match(bad.errors(), [{ name: 'UNAUTHORIZED' }], 'only the refusal, no answer to the publish')
    const check = await login(broker.port, TOKENS.app)
    check.write(encodeTopicList(9))
    t.notOk(((await answer(check, 9)).result as { topic: string }[]).some((x) => x.topic === 'orders.smuggled'), 'the smuggled publish was not stored')
    check.end()
  })

  t.test('a HELLO that fails to decode closes the connection too', async (t) => {
    // versions only under __proto__: must not be inherited, and must not pollute Object.prototype
    const body = Buffer.concat([Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), pack({ versions: [1], client: 'x', token: TOKENS.app })])
    const p = await RawPeer.connect(broker.port)
    p.write(encodeRawFrame(Op.HELLO, body))
    t.ok(await p.waitClosed(), 'closed')
    t.notOk(welcomed(p))
    t.match(p.errors(), [{ name: 'INVALID_REQUEST' }])
    t.equal(({} as Record<string, unknown>).versions, undefined, 'Object.prototype untouched')
    t.equal(({} as Record<string, unknown>).token, undefined)
  })

  t.test('the client library: user and token options, and a clear error without them', async (t) => {
    const url = `skiff://127.0.0.1:${broker.port}`
    const c = await connect(url, { name: 'lib', token: TOKENS.app })
    t.match(await c.producer().publish('orders.lib', 'hi'), { partition: 0, offset: 0 })
    await c.close()
    const hashed = await connect(url, { name: 'lib', user: 'hashed', token: TOKENS.reader })
    t.match(await hashed.producer().publish('orders.lib', 'hi'), { partition: 0, offset: 1 }, 'user and token options (hashed)')
    await hashed.close()
    await t.rejects(connect(url, { name: 'lib', reconnect: false }), { codeName: 'UNAUTHORIZED' })
    await t.rejects(connect(url, { name: 'lib', token: 'wrong-token-0123456789abcdef', reconnect: false }), { codeName: 'UNAUTHORIZED' })
  })
})

t.test('without an auth file the broker stays on loopback unless told otherwise', async (t) => {
  t.throws(() => resolveConfig({ host: '0.0.0.0' }), /without an auth file the broker only listens on loopback, not 0\.0\.0\.0.*--allow-anonymous/)
  t.throws(() => resolveConfig({ host: '10.1.2.3' }), /only listens on loopback/)
  await t.rejects(startBroker({ host: '0.0.0.0', port: 0, logLevel: 'silent', dataDir: t.testdir() }), /only listens on loopback/)
  for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost', '::ffff:127.0.0.1']) t.doesNotThrow(() => resolveConfig({ host }), host)
  t.doesNotThrow(() => resolveConfig({ host: '0.0.0.0', allowAnonymous: true }), 'allowed explicitly')
  t.throws(() => resolveConfig({ host: '0.0.0.0', authFile: '/nonexistent/users.json' }), /cannot read auth file/, 'an auth file must be readable')
})
