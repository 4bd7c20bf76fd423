/**
 * Issue 13, item 8 (the HTTP port has no login): /api/overview showed user
 * names, client names, addresses, topics and groups to anyone; with
 * --host 0.0.0.0 the HTTP port followed it; no Host header check (DNS
 * rebinding); one GET with 2,000-3,000 topics cost 2.2 s of CPU.
 *
 * Against real brokers with an auth file, asserted on what came back:
 * - `/` and `/api/overview`: 401 with a Basic challenge without credentials
 *   or with wrong ones, 403 for a publish-only user, 200 for monitor and admin
 *   users with plain and hashed tokens; over the failed-login rate, 429;
 * - `/metrics`, `/healthz`, `/readyz`: 200 without credentials and with any
 *   Host header;
 * - a Host that is not an IP literal, localhost, *.localhost or a name of
 *   httpAllowedHosts: 421 naming --http-allowed-hosts;
 * - the HTTP port listens on 127.0.0.1 by default even with --host 0.0.0.0;
 * - the overview is paginated (offset, limit, totalTopics; default 100,
 *   at most 500; connections too) and sorted by name;
 * - monitor over the protocol: lists and describes every topic, changes none;
 * - a 3,000-topic broker answers a page correctly (its time is only printed:
 *   bench/micro/overview.mjs measures the cost).
 */
import t from 'tap'
import http from 'node:http'
import { connect } from '../../clients/index.js'
import { hashToken } from '../../broker/auth/index.js'
import { TOKENS, authBroker } from './helpers.js'

const MONITOR_TOKEN = 'monitor-token-0123456789abcdef'
const HASHED_MONITOR_TOKEN = 'hashed-monitor-token-0123456789'

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** A GET with exactly the headers given (fetch would not let a test set Host). */
function get(port: number, path: string, opts: { user?: string; token?: string; host?: string; from?: string; to?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { host: opts.host ?? `127.0.0.1:${port}` }
  if (opts.user !== undefined) headers.authorization = 'Basic ' + Buffer.from(`${opts.user}:${opts.token ?? ''}`).toString('base64')
  return new Promise((resolve, reject) => {
    const req = http.request({ host: opts.to ?? '127.0.0.1', port, path, headers, ...(opts.from ? { localAddress: opts.from } : {}), agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', reject)
    req.end()
  })
}

interface OverviewJson {
  offset: number
  limit: number
  totalTopics: number
  connectionOffset: number
  connectionLimit: number
  totalConnections: number
  topics: { topic: string }[]
  groups: { topic: string; group: string; members: number }[]
  connections: { name: string }[]
}

t.test('the panel and /api need an admin or monitor login; the machine endpoints stay open', async (t) => {
  const { broker } = await authBroker(
    t,
    [
      { name: 'ops', token: TOKENS.admin, admin: true },
      { name: 'watch', token: MONITOR_TOKEN, monitor: true },
      { name: 'watch-hashed', tokenHash: await hashToken(HASHED_MONITOR_TOKEN, { ln: 10, r: 8, p: 1 }), monitor: true },
      { name: 'app', token: TOKENS.app, publish: ['orders.>'], subscribe: ['orders.>'] },
    ],
    { httpPort: 0, httpAllowedHosts: 'broker.internal' },
  )
  const port = broker.httpPort
  const app = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'orders-api', token: TOKENS.app })
  t.teardown(() => app.close())
  await app.producer().publish('orders.eu', 'x')
  await app.subscribe('orders.eu', { group: 'billing', from: 'earliest' })

  for (const path of ['/', '/api/overview']) {
    t.test(`${path}: 401 without credentials or with wrong ones, 403 for a publisher, 200 for monitor and admin`, async (t) => {
      const none = await get(port, path)
      t.equal(none.status, 401)
      t.equal(none.headers['www-authenticate'], 'Basic realm="skiffmq", charset="UTF-8"', 'a browser prompts')
      t.notMatch(none.body, /orders|billing|orders-api/, 'nothing about the broker leaks')
      t.equal((await get(port, path, { user: 'ops', token: 'wrong-token-0123456789abcdef' })).status, 401, 'a wrong token')
      t.equal((await get(port, path, { user: 'nobody', token: TOKENS.admin })).status, 401, 'a token under another name')
      const publisher = await get(port, path, { user: 'app', token: TOKENS.app })
      t.equal(publisher.status, 403, 'a valid user without admin or monitor')
      t.match(publisher.body, /needs "admin": true or "monitor": true/)
      for (const [user, token] of [
        ['ops', TOKENS.admin],
        ['watch', MONITOR_TOKEN],
        ['watch-hashed', HASHED_MONITOR_TOKEN],
      ]) {
        t.equal((await get(port, path, { user, token })).status, 200, `${user} gets in`)
      }
    })
  }

  t.test('what the monitor sees: topics, groups and connections', async (t) => {
    const o = JSON.parse((await get(port, '/api/overview', { user: 'watch-hashed', token: HASHED_MONITOR_TOKEN })).body) as OverviewJson
    t.ok(o.topics.some((x) => x.topic === 'orders.eu'))
    t.match(
      o.groups.find((g) => g.group === 'billing'),
      { topic: 'orders.eu', members: 1 },
    )
    t.ok(o.connections.some((c) => c.name === 'orders-api'))
  })

  t.test('/metrics, /healthz and /readyz: 200 without credentials, whatever the Host', async (t) => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      t.equal((await get(port, path)).status, 200, path)
      t.equal((await get(port, path, { host: 'broker-7.prod.example.com:9600' })).status, 200, `${path} under any name`)
    }
  })

  t.test('Host header: IP literals, localhost and allowed names, with or without a port; anything else 421', async (t) => {
    const as = (host: string) => get(port, '/api/overview', { user: 'ops', token: TOKENS.admin, host })
    for (const host of ['127.0.0.1', `127.0.0.1:${port}`, `[::1]:${port}`, '[::1]', 'localhost', `localhost:${port}`, 'panel.localhost:80', 'broker.internal', `BROKER.INTERNAL:${port}`]) {
      t.equal((await as(host)).status, 200, host)
    }
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.evil.example', 'broker.internal.evil.example', '::1', `127.0.0.1:99999`]) {
      const a = await as(host)
      t.equal(a.status, 421, host)
      t.match(a.body, /--http-allowed-hosts/, 'the answer names the option')
    }
    t.equal((await get(port, '/', { host: 'evil.example' })).status, 421, 'checked before the login: no challenge for a foreign name')
  })

  t.test('the same per-address login limit as HELLO', async (t) => {
    let last: Answer | undefined
    for (let i = 0; i < 31 && last?.status !== 429; i++) last = await get(port, '/api/overview', { user: 'ops', token: `wrong-${i}-0123456789abcdef`, from: '127.0.0.9' })
    t.equal(last?.status, 429, 'refused once over maxFailedLoginsPerIp')
    t.match(last?.body, /maxFailedLoginsPerIp/)
    t.ok(Number(last?.headers['retry-after']) >= 1, 'with Retry-After')
    t.equal((await get(port, '/api/overview', { user: 'ops', token: TOKENS.admin })).status, 200, 'another address is not affected')
  })

  t.test('monitor over the protocol: sees every topic and group, may change nothing', async (t) => {
    const c = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'monitor', user: 'watch-hashed', token: HASHED_MONITOR_TOKEN })
    t.teardown(() => c.close())
    t.ok((await c.admin.listTopics()).some((x) => x.topic === 'orders.eu'), 'lists every topic')
    t.match(await c.admin.describeTopic('orders.eu'), { topic: 'orders.eu' })
    t.ok((await c.admin.listGroups()).some((g) => g.group === 'billing'), 'lists every group')
    t.match(await c.admin.describeGroup('orders.eu', 'billing'), { group: 'billing' })
    await t.rejects(c.admin.createTopic('orders.new'), { codeName: 'FORBIDDEN' })
    await t.rejects(c.admin.deleteTopic('orders.eu'), { codeName: 'FORBIDDEN' })
    await t.rejects(c.producer().publish('orders.eu', 'x'), { codeName: 'FORBIDDEN' })
    await t.rejects(c.subscribe('orders.eu', { group: 'peek' }), { codeName: 'FORBIDDEN' })
  })
})

t.test('the HTTP port listens on loopback by default, even with --host 0.0.0.0', async (t) => {
  const { broker } = await authBroker(t, [{ name: 'ops', token: TOKENS.admin, admin: true }], { host: '0.0.0.0', httpPort: 0 })
  t.equal(broker.config.httpHost, '127.0.0.1')
  t.equal((await get(broker.httpPort, '/healthz')).status, 200, 'on 127.0.0.1')
  // 127.0.0.2 is another local address: a socket bound to 127.0.0.1 alone does not answer there.
  await t.rejects(get(broker.httpPort, '/healthz', { to: '127.0.0.2' }), { code: 'ECONNREFUSED' }, 'not on other addresses')
  const c = await connect(`skiff://127.0.0.2:${broker.port}`, { name: 'elsewhere', token: TOKENS.admin, reconnect: false })
  t.ok(c, 'while the protocol port does listen there')
  await c.close()
})

t.test('the overview is paginated, and a 3,000-topic broker answers one page', async (t) => {
  const TOPICS = 3000
  const { broker } = await authBroker(t, [{ name: 'ops', token: TOKENS.admin, admin: true, publish: ['t.>'] }], { httpPort: 0, fsync: 'never', maxTopics: TOPICS + 10 })
  const c = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'filler', token: TOKENS.admin })
  t.teardown(() => c.close())
  const producer = c.producer({ maxInFlight: 1000 })
  const name = (i: number) => `t.${String(i).padStart(4, '0')}`
  // Created out of order: the pages must still come sorted by name.
  for (let i = 0; i < TOPICS; i += 250) await Promise.all(Array.from({ length: 250 }, (_, j) => producer.publish(name(TOPICS - 1 - i - j), 'x')))
  const page = async (query: string) => {
    const started = performance.now()
    const a = await get(broker.httpPort, `/api/overview${query}`, { user: 'ops', token: TOKENS.admin })
    return { ms: performance.now() - started, status: a.status, body: a.body, o: a.status === 200 ? (JSON.parse(a.body) as OverviewJson) : undefined }
  }

  const first = await page('')
  t.match(first.o, { offset: 0, limit: 100, totalTopics: TOPICS, connectionOffset: 0, connectionLimit: 100, totalConnections: 1 }, 'the default page and the totals')
  t.same(
    first.o?.topics.map((x) => x.topic),
    Array.from({ length: 100 }, (_, i) => name(i)),
    'the first 100 topics by name',
  )
  const last = await page('?offset=2900&limit=500')
  t.same(
    last.o?.topics.map((x) => x.topic),
    Array.from({ length: 100 }, (_, i) => name(2900 + i)),
    'the last page holds what is left',
  )
  const big = await page('?offset=1000&limit=5000')
  t.equal(big.o?.limit, 500, 'limit is at most 500')
  t.equal(big.o?.topics.length, 500)
  t.equal(big.o?.topics[0]?.topic, name(1000))
  t.equal((await page('?limit=0')).status, 400, 'limit 0 is refused')
  t.equal((await page('?offset=-1')).status, 400, 'a negative offset is refused')
  t.equal((await page('?limit=ten')).status, 400, 'so is a word')
  const conns = await page('?connectionLimit=1&connectionOffset=0')
  t.match(conns.o, { connectionLimit: 1, totalConnections: 1, connections: [{ name: 'filler' }] }, 'connections are a page of their own')
  t.comment(`with ${TOPICS} topics: default page ${first.ms.toFixed(0)} ms, 500-topic page ${big.ms.toFixed(0)} ms, last page ${last.ms.toFixed(0)} ms (wall time, not asserted)`)
})
