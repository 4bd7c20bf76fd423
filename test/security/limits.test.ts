/**
 * Configured limits: connections (global and per IP address), subscriptions
 * per connection, topics, partitions per topic; and the security options'
 * own checks.
 */
import t from 'tap'
import { encodeSubscribe, encodePublish, encodeRecord, encodeTopicCreate } from '../../protocol/index.js'
import { resolveConfig } from '../../broker/config.js'
import { RawPeer, TOKENS, authBroker, answer, login, welcomed, until } from './helpers.js'

const users = [{ name: 'app', token: TOKENS.app, publish: ['orders.>'], subscribe: ['orders.>'], admin: true }]

/** A raw connection from a chosen loopback source address (127.0.0.0/8 is all loopback on Linux). */
const from = (localAddress: string, port: number): Promise<RawPeer> => RawPeer.connect(port, localAddress)

t.test('connection limits', async (t) => {
  t.test('maxConnections', async (t) => {
    const { broker } = await authBroker(t, users, { maxConnections: 3 })
    const three = await Promise.all([1, 2, 3].map(() => login(broker.port, TOKENS.app)))
    t.ok(three.every(welcomed), 'three get in')
    const fourth = await RawPeer.connect(broker.port)
    t.ok(await fourth.waitClosed(), 'the fourth is closed at once')
    t.match(fourth.errors(), [{ name: 'TOO_MANY_CONNECTIONS', details: { limit: 'maxConnections', value: 3 } }])
    three[0]!.end()
    t.ok(await until(() => three[0]!.closed, 2000))
    let again: RawPeer | undefined
    for (let i = 0; i < 50 && !(again && welcomed(again)); i++) {
      again = await login(broker.port, TOKENS.app)
      if (!welcomed(again)) await new Promise((r) => setTimeout(r, 20))
    }
    t.ok(again && welcomed(again), 'a freed slot can be used again')
  })

  t.test('maxConnectionsPerIp', async (t) => {
    const { broker } = await authBroker(t, users, { maxConnectionsPerIp: 2 })
    const a = [await from('127.0.0.1', broker.port), await from('127.0.0.1', broker.port)]
    const refused = await from('127.0.0.1', broker.port)
    t.ok(await refused.waitClosed(), 'a third from 127.0.0.1 is refused')
    t.match(refused.errors(), [{ name: 'TOO_MANY_CONNECTIONS', details: { limit: 'maxConnectionsPerIp' } }])
    const other = await from('127.0.0.2', broker.port)
    await new Promise((r) => setTimeout(r, 100))
    t.notOk(other.closed, 'another address still gets in')
    for (const p of [...a, other]) p.end()
  })
})

t.test('per-connection and per-broker limits', async (t) => {
  const { broker } = await authBroker(t, users, { maxSubscriptionsPerConnection: 2, maxTopics: 3, maxPartitionsPerTopic: 4 })
  const p = await login(broker.port, TOKENS.app)
  let corr = 1

  t.test('maxSubscriptionsPerConnection', async (t) => {
    for (const sub of [1, 2]) {
      p.write(encodeSubscribe({ corr: corr, sub, topic: 'orders.a', group: `g${sub}`, start: 'latest', maxInFlight: 10 }))
      t.match(await answer(p, corr++), { ok: true }, `subscription ${sub}`)
    }
    p.write(encodeSubscribe({ corr, sub: 3, topic: 'orders.a', group: 'g3', start: 'latest', maxInFlight: 10 }))
    t.match(await answer(p, corr++), { ok: false, error: 'INVALID_REQUEST', details: { limit: 'maxSubscriptionsPerConnection', value: 2 } })
    t.notOk(p.closed, 'the connection stays')
  })

  t.test('maxPartitionsPerTopic', async (t) => {
    p.write(encodeTopicCreate({ corr, topic: 'orders.wide', partitions: 5 }))
    t.match(await answer(p, corr++), { ok: false, error: 'INVALID_REQUEST', details: { limit: 'maxPartitionsPerTopic', value: 4 } })
    p.write(encodeTopicCreate({ corr, topic: 'orders.b', partitions: 4 }))
    t.match(await answer(p, corr++), { ok: true }, 'four partitions are fine')
  })

  t.test('maxTopics', async (t) => {
    const record = encodeRecord({ payload: Buffer.from('x') })
    p.write(encodePublish({ corr, topic: 'orders.c', count: 1, records: record, confirm: true }))
    t.match(await answer(p, corr++), { ok: true }, 'the third topic')
    p.write(encodePublish({ corr, topic: 'orders.d', count: 1, records: record, confirm: true }))
    t.match(await answer(p, corr++), { ok: false, error: 'INVALID_REQUEST', details: { limit: 'maxTopics', value: 3 } }, 'a fourth by publishing')
    p.write(encodeTopicCreate({ corr, topic: 'orders.e' }))
    t.match(await answer(p, corr++), { ok: false, error: 'INVALID_REQUEST', details: { limit: 'maxTopics' } }, 'or by creating')
    p.write(encodeSubscribe({ corr, sub: 9, topic: 'orders.f', group: 'g', start: 'latest', maxInFlight: 1 }))
    t.match(await answer(p, corr++), { ok: false, error: 'INVALID_REQUEST' }, 'or by subscribing')
    p.write(encodePublish({ corr, topic: 'orders.a', count: 1, records: record, confirm: true }))
    t.match(await answer(p, corr++), { ok: true }, 'existing topics still take publishes')
  })
})

t.test('the security options are checked', async (t) => {
  t.throws(() => resolveConfig({ tlsCert: 'a.pem' }), /tlsCert and tlsKey go together/)
  t.throws(() => resolveConfig({ tlsVerifyClients: true }), /tlsVerifyClients needs tlsCa/)
  t.throws(() => resolveConfig({ tlsCa: 'ca.pem' }), /tlsCa needs tlsCert/)
  t.throws(() => resolveConfig({ tlsCert: '/nonexistent/c.pem', tlsKey: '/nonexistent/k.pem' }), /cannot read the TLS certificate/)
  t.throws(() => resolveConfig({ defaultPartitions: 8, maxPartitionsPerTopic: 4 }), /defaultPartitions \(8\) is more than maxPartitionsPerTopic/)
  t.throws(() => resolveConfig({ maxConnections: 1.5 }), /maxConnections must be a whole number/)
})
