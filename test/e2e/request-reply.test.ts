/** client.request() and client.serve() against a real broker. */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startBroker } from '../../broker/index.js'
import { connect, type SkiffError } from '../../clients/index.js'
import { eventually, startTestBroker } from './helpers.js'

t.test('requests are answered by the servers of the topic, each with its own reply', async (t) => {
  const tb = await startTestBroker(t, 1, { httpPort: 0 })
  const [a, b, requester] = await Promise.all([tb.client(), tb.client(), tb.client()])
  const sa = await a.serve('greet', (req) => ({ from: 'a', hello: (req.decode() as { name: string }).name }))
  await b.serve('greet', async (req) => ({ from: 'b', hello: (req.decode() as { name: string }).name, key: req.key, hdr: req.headers.x }))
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => requester.request('greet', { name: `n${i}` }, { timeoutMs: 5000, key: `k${i}`, headers: { x: 'y' } })))
  const decoded = replies.map((r) => r.decode() as { from: string; hello: string })
  t.same(decoded.map((d) => d.hello), Array.from({ length: 50 }, (_, i) => `n${i}`), 'every reply answers its own request')
  t.same([...new Set(decoded.map((d) => d.from))].sort(), ['a', 'b'], 'both servers took requests')
  const fromB = decoded.find((d) => d.from === 'b') as unknown as { key: string; hdr: string }
  t.match(fromB, { key: /^k\d+$/, hdr: 'y' }, 'the server sees the key and headers')

  await sa.close()
  const after = await Promise.all(Array.from({ length: 4 }, () => requester.request('greet', 'x', { timeoutMs: 5000 })))
  t.ok(after.every((r) => (r.decode() as { from: string }).from === 'b'), 'a closed service takes no more requests')
})

t.test('NO_RESPONDERS, TIMEOUT and a failing handler', async (t) => {
  const tb = await startTestBroker(t, 1, { httpPort: 0 })
  const [server, requester] = await Promise.all([tb.client(), tb.client()])
  const errors: Error[] = []
  server.on('error', (e) => errors.push(e))
  await t.rejects(requester.request('nobody', 'x', { timeoutMs: 2000 }), { codeName: 'NO_RESPONDERS' })
  await server.serve('slow', () => new Promise((resolve) => setTimeout(() => resolve('late'), 1500)))
  await t.rejects(requester.request('slow', 'x', { timeoutMs: 200 }), { codeName: 'TIMEOUT' })
  await server.serve('broken', () => {
    throw new Error('out of greetings')
  })
  const err = (await requester.request('broken', 'x', { timeoutMs: 2000 }).catch((e: SkiffError) => e)) as SkiffError
  t.equal(err.codeName, 'INTERNAL')
  t.match(err.message, /out of greetings/, 'the server error reaches the requester')
  t.ok(errors.some((e) => /out of greetings/.test(e.message)), "the server's client reports the failure")
  await t.rejects(requester.request('slow', 'x', { timeoutMs: 0 }), { codeName: 'INVALID_REQUEST' })
})

t.test('a server serves again after the broker restarts', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-rr-'))
  const config = { port: 0, httpPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent' as const, dataDir }
  let broker = await startBroker(config)
  const port = broker.port
  const url = `skiff://127.0.0.1:${port}`
  const server = await connect(url, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } })
  const requester = await connect(url, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } })
  t.teardown(async () => {
    await Promise.all([server.close(), requester.close()])
    await broker.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  await server.serve('echo', (req) => req.payload)
  t.equal((await requester.request('echo', 'one', { timeoutMs: 2000 })).payload.toString(), 'one')
  const back = new Promise((resolve) => server.once('reconnect', resolve))
  await broker.close()
  broker = await startBroker({ ...config, port })
  await back
  const reply = await eventually('a reply after the restart', () =>
    requester.request('echo', 'two', { timeoutMs: 1000 }).then(
      (r) => r,
      () => undefined,
    ),
  )
  t.equal(reply.payload.toString(), 'two', 'the SERVE was restored on the new connection')
})
