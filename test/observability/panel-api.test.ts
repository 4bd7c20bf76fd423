/**
 * The panel's JSON endpoints over HTTP against a real broker process with an
 * auth file (admin ops, monitor watch, client app): who may do what, the
 * CSRF check, the node view, dead-letter topics marked with their depth,
 * publish and peek (no group made), closing a connection (the client gets
 * the reason), purge, group delete and reset, and the audit log lines.
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { VERSION } from '../../broker/version.js'
import { BrokerRunner, tempDir } from '../reliability/harness.js'
import { ADMIN, APP, MONITOR, act, request, until, writePanelAuthFile } from './panel-helpers.js'

const ACTIONS = ['publish', 'peek', 'close-connection', 'purge-topic', 'delete-group', 'reset-group']

t.test('panel API with an auth file', async (t) => {
  const dir = tempDir(t, 'skiff-panel-api-')
  const broker = await BrokerRunner.create({ dataDir: `${dir}/data`, args: ['--workers', '1', '--data-dir', `${dir}/data`, '--auth-file', writePanelAuthFile(dir)] })
  await broker.start()
  t.teardown(() => broker.stop())
  const port = broker.httpPort!
  const app = await connect(broker.url, { name: 'panel-api-app', user: APP.user, token: APP.token })
  t.teardown(() => app.close())

  t.test('/api/me says who is logged in and whether they may act', async (t) => {
    t.same((await request(port, '/api/me', { login: ADMIN })).json(), { user: 'ops', admin: true })
    t.same((await request(port, '/api/me', { login: MONITOR })).json(), { user: 'watch', admin: false })
    t.equal((await request(port, '/api/me')).status, 401)
    t.equal((await request(port, '/api/me', { login: APP })).status, 403, 'a client user without admin or monitor')
  })

  t.test('the node view', async (t) => {
    const n = (await request(port, '/api/node', { login: MONITOR })).json<Record<string, any>>()
    t.equal(n.version, VERSION)
    t.equal(n.pid, broker.pid)
    t.equal(n.workers, 1)
    t.equal(n.fsync, 'always')
    t.ok(n.connections >= 1, 'the app connection counts')
    t.ok(n.uptimeS >= 0 && n.startedAt <= Date.now())
    t.ok(n.memory.rss > 0 && n.memory.heapUsed > 0 && n.memory.heapTotal >= n.memory.heapUsed)
    t.ok(n.disk.totalBytes > 0 && n.disk.freeBytes > 0 && n.disk.usedBytes > 0 && n.disk.usedBytes + n.disk.freeBytes <= n.disk.totalBytes, JSON.stringify(n.disk))
  })

  t.test('a monitor gets 403 from every action, and so does anyone without the CSRF header or from another origin', async (t) => {
    for (const a of ACTIONS) {
      const r = await act(port, a, { topic: 'x', group: 'g', id: 1 }, MONITOR)
      t.equal(r.status, 403, `${a} as monitor`)
      t.match(r.json(), { error: { code: 'FORBIDDEN', message: /actions need "admin": true/ } })
    }
    t.equal((await act(port, 'publish', { topic: 'x' }, undefined)).status, 401, 'no login')
    t.equal((await act(port, 'publish', { topic: 'x' }, APP)).status, 403, 'a client user')
    const noHeader = await request(port, '/api/actions/publish', { method: 'POST', login: ADMIN, body: '{"topic":"x"}', headers: { 'content-type': 'application/json' } })
    t.equal(noHeader.status, 403, 'no X-Skiff-Panel header')
    t.match(noHeader.body, /X-Skiff-Panel/)
    const form = await act(port, 'publish', { topic: 'x' }, ADMIN, { 'content-type': 'application/x-www-form-urlencoded' })
    t.equal(form.status, 415, 'a form post')
    const elsewhere = await act(port, 'publish', { topic: 'x' }, ADMIN, { origin: 'http://evil.example' })
    t.equal(elsewhere.status, 403, 'another origin')
    t.match(elsewhere.body, /evil\.example/)
    t.equal((await act(port, 'publish', { topic: 'x' }, ADMIN, { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'cross-site' })).status, 403, 'Sec-Fetch-Site cross-site')
    t.equal((await request(port, '/api/actions/publish', { login: ADMIN })).status, 405, 'GET of an action')
    t.equal((await request(port, '/api/overview', { method: 'POST', login: ADMIN })).status, 405, 'POST of a read endpoint')
    t.equal((await act(port, 'explode', {}, ADMIN)).status, 404)
    const topics = (await request(port, '/api/overview', { login: ADMIN })).json<{ topics: { topic: string }[] }>().topics
    t.notOk(topics.some((x) => x.topic === 'x'), 'no refused publish created the topic')
  })

  t.test('publish, then peek it back without creating or moving a group', async (t) => {
    const r = await act(port, 'publish', { topic: 'panel-orders', key: 'customer-7', payload: '{"total":42}', contentType: 'application/json' }, ADMIN)
    t.equal(r.status, 200, r.body)
    const { partition, offset } = r.json<{ partition: number; offset: number }>()
    t.equal(offset, 0)
    const consumer = await app.subscribe('panel-orders', { group: 'billing', from: 'earliest' })
    const delivered = (await consumer[Symbol.asyncIterator]().next()).value!
    t.equal(delivered.key, 'customer-7')
    t.same(delivered.decode(), { total: 42 }, 'the content type reaches the client')
    const peeked = await act(port, 'peek', { topic: 'panel-orders', partition, offset: 0, count: 5 }, ADMIN)
    t.equal(peeked.status, 200, peeked.body)
    t.match(peeked.json(), { topic: 'panel-orders', partition, messages: [{ offset: 0, key: 'customer-7', headers: { 'content-type': 'application/json' }, payload: '{"total":42}', encoding: 'utf8', truncated: false }] })
    t.equal(peeked.json<{ messages: unknown[] }>().messages.length, 1)
    const latest = await act(port, 'peek', { topic: 'panel-orders', count: '3' }, ADMIN)
    t.equal(latest.json<{ messages: unknown[] }>().messages.length, 1, 'without an offset: the last messages')
    type G = { topic: string; group: string; inFlight: number }
    // The overview is cached for up to a second: wait for one built after the subscribe.
    const groups = await until(async () => {
      const o = (await request(port, '/api/overview', { login: ADMIN })).json<{ groups: G[] }>()
      const mine = o.groups.filter((g) => g.topic === 'panel-orders')
      return mine.length > 0 && mine
    }, 5000)
    t.same(
      groups?.map((g) => [g.group, g.inFlight]),
      [['billing', 1]],
      'only the consumer group exists, its delivery still in flight: peek made no group and settled nothing',
    )
    delivered.ack()
    t.match((await act(port, 'peek', { topic: 'nope' }, ADMIN)).json(), { error: { code: 'UNKNOWN_TOPIC' } })
    t.equal((await act(port, 'peek', { topic: 'panel-orders', partition: 3 }, ADMIN)).status, 400, 'no such partition')
    const dlq = await act(port, 'publish', { topic: 'panel-orders.dlq', payload: 'x' }, ADMIN)
    t.equal(dlq.status, 400)
    t.match(dlq.json(), { error: { code: 'INVALID_REQUEST', message: /dead-letter topic/ } })
  })

  t.test('a dead-letter topic is marked with its depth beside its origin', async (t) => {
    const ops = await connect(broker.url, { name: 'panel-api-ops', user: ADMIN.user, token: ADMIN.token })
    t.teardown(() => ops.close())
    await ops.admin.createTopic('payments', { partitions: 2 })
    const producer = app.producer()
    for (let i = 0; i < 3; i++) await producer.publish('payments', `p${i}`, { key: `k${i}` })
    const consumer = await app.subscribe('payments', { group: 'ledger', from: 'earliest' })
    const it = consumer[Symbol.asyncIterator]()
    for (let i = 0; i < 3; i++) {
      const m = (await it.next()).value!
      if (i < 2) m.term()
      else m.ack()
    }
    type T = { topic: string; messages: number; deadLetterOf?: string; deadLetters?: { topic: string; depth: number } }
    const topics = await until(async () => {
      const o = (await request(port, '/api/overview', { login: MONITOR })).json<{ topics: T[] }>()
      return o.topics.find((x) => x.topic === 'payments')?.deadLetters?.depth === 2 && o.topics
    }, 10_000)
    t.ok(topics, 'the origin shows a depth of 2')
    t.match(topics!.find((x) => x.topic === 'payments'), { deadLetters: { topic: 'payments.dlq', depth: 2 } })
    t.match(topics!.find((x) => x.topic === 'payments.dlq'), { deadLetterOf: 'payments', messages: 2 })
    t.notOk(topics!.find((x) => x.topic === 'panel-orders')?.deadLetters, 'a topic without dead letters has no mark')
    const onOtherPage = (await request(port, '/api/overview?offset=1&limit=1', { login: MONITOR })).json<{ topics: T[] }>().topics
    t.match(onOtherPage, [{ topic: 'payments', deadLetters: { depth: 2 } }], 'the depth is there when the DLQ is on another page')
    const peek = await act(port, 'peek', { topic: 'payments.dlq', partition: 0, offset: 0 }, ADMIN)
    t.equal(peek.status, 200, 'dead letters can be peeked')
  })

  t.test('closing a connection: the client gets the reason, then the close', async (t) => {
    const victim = await connect(broker.url, { name: 'to-be-closed', user: APP.user, token: APP.token })
    t.teardown(() => victim.close())
    const errors: Error[] = []
    victim.on('error', (e) => errors.push(e))
    const disconnected = new Promise((resolve) => victim.once('disconnect', resolve))
    const found = await until(async () => {
      const o = (await request(port, '/api/overview', { login: ADMIN })).json<{ connections: { id: number; name: string }[] }>()
      return o.connections.find((c) => c.name === 'to-be-closed')
    }, 5000)
    const id = found!.id
    t.equal((await act(port, 'close-connection', { id, reason: 'rotating keys' }, MONITOR)).status, 403, 'not as monitor')
    const r = await act(port, 'close-connection', { id, reason: 'rotating keys' }, ADMIN)
    t.equal(r.status, 200, r.body)
    await disconnected
    t.match(errors, [{ codeName: 'CONNECTION_CLOSED', message: /closed by ops from the panel: rotating keys/ }])
    const again = await act(port, 'close-connection', { id }, ADMIN)
    t.equal(again.status, 400)
    t.match(again.json(), { error: { message: `no open connection has id ${id}` } })
  })

  t.test('purge, delete group and reset group do what the protocol operations do', async (t) => {
    const ops = await connect(broker.url, { name: 'panel-api-admin-ops', user: ADMIN.user, token: ADMIN.token })
    t.teardown(() => ops.close())
    await ops.admin.createTopic('ledger', { partitions: 1 })
    // The admin user manages topics; the client user publishes and consumes.
    const producer = app.producer()
    for (let i = 0; i < 10; i++) await producer.publish('ledger', `l${i}`)
    const member = await app.subscribe('ledger', { group: 'books', from: 'earliest', maxInFlight: 10 })
    const it = member[Symbol.asyncIterator]()
    for (let i = 0; i < 10; i++) (await it.next()).value!.ack()
    const committed = async () => (await ops.admin.describeGroup('ledger', 'books')).partitions[0]!.committed
    t.ok(await until(async () => (await committed()) === 10, 5000), 'the group acked all 10')

    const inUse = await act(port, 'reset-group', { topic: 'ledger', group: 'books', to: 'earliest' }, ADMIN)
    t.equal(inUse.status, 409, 'a group with a member is not reset')
    t.match(inUse.json(), { error: { code: 'GROUP_IN_USE', message: /1 subscribed member/ } })
    await member.close()
    const reset = await act(port, 'reset-group', { topic: 'ledger', group: 'books', to: 3 }, ADMIN)
    t.equal(reset.status, 200, reset.body)
    t.match(reset.json(), { partitions: [{ partition: 0, from: 10, to: 3 }] })
    t.equal(await committed(), 3, 'describeGroup shows the new position')

    const purge = await act(port, 'purge-topic', { topic: 'ledger' }, ADMIN)
    t.equal(purge.status, 200, purge.body)
    const info = (await ops.admin.describeTopic('ledger')).partitionInfo[0]!
    t.same([info.startOffset, info.endOffset], [10, 10], 'every record is gone, offsets go on')

    const del = await act(port, 'delete-group', { topic: 'ledger', group: 'books' }, ADMIN)
    t.equal(del.status, 200, del.body)
    t.notOk((await ops.admin.listGroups('ledger')).some((g) => g.group === 'books'), 'the group is gone')
    const again = await act(port, 'delete-group', { topic: 'ledger', group: 'books' }, ADMIN)
    t.equal(again.status, 404, 'deleting it again: UNKNOWN_GROUP')
    t.equal((await act(port, 'purge-topic', { topic: 'nope' }, ADMIN)).status, 404, 'an unknown topic')
    t.match((await act(port, 'reset-group', { topic: 'a', group: 'b', to: 'sideways' }, ADMIN)).json(), { error: { message: /to must be/ } })
  })

  t.test('every action attempt is an audit line: who, what, from where, outcome; never the payload', async (t) => {
    const lines = await until(() => {
      const l = broker.lines.filter((x) => x.msg === 'panel action')
      return l.some((x) => x.action === 'close-connection' && x.result === 'ok') && l
    }, 5000)
    t.ok(lines)
    t.match(lines!.find((x) => x.action === 'publish' && x.result === 'ok'), { audit: 'panel', user: 'ops', from: /^127\.0\.0\.1:\d+$/, topic: 'panel-orders', key: 'customer-7', payloadBytes: 12 })
    t.ok(lines!.some((x) => x.action === 'purge-topic' && x.user === 'watch' && x.result === 'forbidden'), 'a monitor refused')
    t.ok(lines!.some((x) => x.action === 'publish' && x.result === 'refused' && x.origin === 'http://evil.example'), 'a cross-origin attempt')
    t.ok(lines!.some((x) => x.action === 'close-connection' && x.result === 'ok' && x.reason === 'rotating keys'))
    t.notOk(JSON.stringify(lines).includes('"total":42'), 'no payload in the log')
  })
})
