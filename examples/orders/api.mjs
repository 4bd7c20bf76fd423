/**
 * The order API (node:http): POST /login issues a signed token (JWT, HS256,
 * via `jose`); POST /orders publishes the order and answers 202 at once;
 * GET /orders/:id answers the latest status from a projection of the
 * `order-status` topic (the API is one subscriber of it; anyone else can be
 * another). Orders are processed asynchronously by the workers.
 */
import http from 'node:http'
import { randomUUID } from 'node:crypto'
import { SignJWT, jwtVerify } from 'jose'
import { connect } from 'skiffmq'

const SECRET = new TextEncoder().encode(process.env.ORDERS_JWT_SECRET)
const USERS = { alice: 'wonderland', bob: 'builder' } // demo only: a real API keeps scrypt hashes
const orders = new Map() // id -> { id, user, status, history }

const client = await connect(process.env.SKIFF_URL, { name: 'orders-api' }) // no SKIFF_URL: skiff://127.0.0.1:7600
client.on('error', (err) => console.error(`client error: ${err.message}`))
for (const topic of ['orders', 'order-status']) {
  await client.admin.createTopic(topic, { partitions: 2 }).catch((err) => {
    if (err.code !== 'TOPIC_EXISTS') throw err
  })
}
const producer = client.producer({ whenFull: 'wait' })
await client.subscribe('order-status', { group: 'api-status-projector', from: 'earliest', autoAck: true }, (msg) => {
  const s = msg.decode()
  const o = orders.get(s.id) ?? { id: s.id, user: s.user, history: [] }
  o.status = s.status
  o.history.push(s.detail ? `${s.status} (${s.detail})` : s.status)
  orders.set(s.id, o)
})

async function body(req) {
  const chunks = []
  for await (const c of req) chunks.push(c)
  try {
    return JSON.parse(Buffer.concat(chunks).toString() || '{}')
  } catch {
    return undefined
  }
}

async function user(req) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
  if (!m) return undefined
  try {
    const { payload } = await jwtVerify(m[1], SECRET, { algorithms: ['HS256'], issuer: 'skiff-orders' })
    return payload.sub
  } catch {
    return undefined
  }
}

const server = http.createServer(async (req, res) => {
  const send = (code, value) => {
    res.writeHead(code, { 'content-type': 'application/json' })
    res.end(JSON.stringify(value))
  }
  try {
    if (req.method === 'POST' && req.url === '/login') {
      const { user: name, password } = (await body(req)) ?? {}
      if (!name || USERS[name] !== password) return send(401, { error: 'bad credentials' })
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(name).setIssuer('skiff-orders').setIssuedAt().setExpirationTime('10m').sign(SECRET)
      return send(200, { token })
    }
    const who = await user(req)
    if (!who) return send(401, { error: 'missing or invalid token' })
    if (req.method === 'POST' && req.url === '/orders') {
      const order = await body(req)
      if (!order) return send(400, { error: 'the body is not JSON' })
      const id = randomUUID()
      // Keyed by order id: an order's statuses share a partition, so they are read in order.
      await producer.publish('order-status', { id, user: who, status: 'received' }, { key: id })
      await producer.publish('orders', { ...order, id, user: who }, { key: id })
      return send(202, { id, status: 'received' })
    }
    const m = /^\/orders\/([\w-]+)$/.exec(req.url)
    if (req.method === 'GET' && m) {
      const o = orders.get(m[1])
      if (!o || o.user !== who) return send(404, { error: 'no such order' })
      return send(200, o)
    }
    send(404, { error: 'not found' })
  } catch (err) {
    send(500, { error: err.message })
  }
})
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`listening on ${server.address().port}`))

process.once('SIGTERM', async () => {
  server.close()
  await client.close()
  process.exit(0)
})
