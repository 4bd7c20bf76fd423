/**
 * Issue 13, item 5: dead letters leaked through child wildcards. A user with
 * subscribe `orders.*` may not read `orders`, but `orders.*` covers
 * `orders.dlq`, which holds the messages of `orders` that were dead-lettered:
 * so it read them. Reading a dead-letter topic (SUBSCRIBE, SERVE) now needs
 * subscribe on it AND on its origin chain (guard.ts): a user may read only
 * what it could already read.
 */
import t from 'tap'
import { Op, encodePublish, encodeRecord, encodeServe, encodeSubscribe } from '../../protocol/index.js'
import { connect } from '../../clients/index.js'
import { TOKENS, answer, authBroker, login, writeAuthFile } from './helpers.js'

const users = [
  { name: 'producer', token: TOKENS.app, publish: ['orders'], subscribe: ['orders'] },
  { name: 'wildcard', token: TOKENS.nobody, subscribe: ['orders.*'] },
  { name: 'subtree', token: 'subtree-token-0123456789abcdef', subscribe: ['orders.>'] },
  { name: 'exact', token: TOKENS.reader, subscribe: ['orders', 'orders.dlq'] },
  { name: 'tree', token: TOKENS.admin, subscribe: ['orders', 'orders.>'] },
]

t.test('dead letters are readable only by whoever may read their origin', async (t) => {
  const { broker } = await authBroker(t, users)
  const url = `skiff://127.0.0.1:${broker.port}`

  // A real dead letter of `orders`: published, then terminated by its consumer.
  const producer = await connect(url, { name: 'producer', token: TOKENS.app })
  t.teardown(() => producer.close())
  const consumer = await producer.subscribe('orders', { group: 'billing', from: 'earliest' })
  await producer.producer().publish('orders', 'card 4111-1111-1111-1111')
  const first = await consumer.next()
  first.value!.term()

  let corr = 1
  for (const [name, token] of [
    ['wildcard', TOKENS.nobody],
    ['subtree', 'subtree-token-0123456789abcdef'],
  ] as const) {
    t.test(`${name} (${users.find((u) => u.name === name)!.subscribe.join(', ')}) is FORBIDDEN on orders.dlq`, async (t) => {
      const p = await login(broker.port, token)
      t.teardown(() => p.end())
      p.write(encodeSubscribe({ corr, sub: 1, topic: 'orders.dlq', group: 'peek', start: 'earliest', maxInFlight: 10 }))
      const sub = await answer(p, corr++)
      t.match(sub, { ok: false, error: 'FORBIDDEN', details: { user: name, operation: 'subscribe', topic: 'orders.dlq', origin: 'orders' } })
      p.write(encodeServe(Op.SERVE, { corr, topic: 'orders.dlq' }))
      t.match(await answer(p, corr++), { ok: false, error: 'FORBIDDEN', details: { topic: 'orders.dlq', origin: 'orders' } }, 'SERVE too')
      p.write(encodeSubscribe({ corr, sub: 2, topic: 'orders.dlq.dlq', group: 'peek', start: 'earliest', maxInFlight: 10 }))
      t.match(await answer(p, corr++), { ok: false, error: 'FORBIDDEN' }, 'and every link of the chain')
      await new Promise((r) => setTimeout(r, 200))
      t.notOk(p.frames.some((f) => f.opcode === Op.DELIVER), 'no dead letter was delivered')
      t.notOk(p.closed, 'the connection stays open')
    })
  }

  for (const [name, token] of [
    ['exact', TOKENS.reader],
    ['tree', TOKENS.admin],
  ] as const) {
    t.test(`${name} (${users.find((u) => u.name === name)!.subscribe.join(', ')}) reads orders.dlq`, async (t) => {
      const client = await connect(url, { name, token })
      t.teardown(() => client.close())
      const dlq = await client.subscribe('orders.dlq', { group: `ops-${name}`, from: 'earliest' })
      const dead = await Promise.race([dlq.next(), new Promise<undefined>((r) => setTimeout(r, 5000))])
      t.equal(dead?.value?.payload.toString(), 'card 4111-1111-1111-1111', 'the dead letter arrives')
      t.equal(dead?.value?.headers['x-dlq-topic'], 'orders')
    })
  }
})

t.test('a reload that takes the origin away ends a dead-letter subscription', async (t) => {
  const { broker, authFile } = await authBroker(t, [
    { name: 'producer', token: TOKENS.app, publish: ['orders'] },
    { name: 'exact', token: TOKENS.reader, subscribe: ['orders', 'orders.dlq'] },
  ])
  const producer = await login(broker.port, TOKENS.app)
  t.teardown(() => producer.end())
  const reader = await login(broker.port, TOKENS.reader)
  t.teardown(() => reader.end())
  producer.write(encodePublish({ corr: 1, topic: 'orders', count: 1, records: encodeRecord({ payload: Buffer.from('x') }), confirm: true }))
  t.match(await answer(producer, 1), { ok: true }, 'orders exists')
  reader.write(encodeSubscribe({ corr: 2, sub: 2, topic: 'orders.dlq', group: 'g', start: 'latest', maxInFlight: 1 }))
  t.match(await answer(reader, 2), { ok: true }, 'reading only the dead letters')

  writeAuthFile(authFile, [
    { name: 'producer', token: TOKENS.app, publish: ['orders'] },
    { name: 'exact', token: TOKENS.reader, subscribe: ['orders.dlq'] },
  ])
  process.kill(process.pid, 'SIGHUP')
  t.ok(await reader.waitClosed(3000), 'the reader was disconnected')
  t.match(reader.errors(), [{ name: 'UNAUTHORIZED', message: /may no longer subscribe to topic orders\.dlq/ }], 'orders.dlq is still granted, orders is not')
})
