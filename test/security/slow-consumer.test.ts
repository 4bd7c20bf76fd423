/**
 * A consumer that never reads its socket: once the broker's unwritten output
 * for it passes maxPendingBytes it is disconnected and counted as
 * SLOW_CONSUMER, instead of the broker buffering everything it is owed.
 * The same holds for a client that pipelines requests and never reads the
 * answers.
 *
 * What bounds the broker's memory before the cut is the consumer's credits
 * (maxInFlight x message size): a partition worker reads and encodes that much
 * at once. The backlog here is twice the 64 MiB budget, so a broker that
 * buffered what it owes would fail.
 */
import t from 'tap'
import { Op, encodeSubscribe, encodeTopicCreate, encodeTopicList, unpack } from '../../protocol/index.js'
import { connect } from '../../clients/index.js'
import { TOKENS, authBroker, login, rssMiB } from './helpers.js'

const PENDING_LIMIT = 256 * 1024

/** skiff_protocol_errors_total{code="SLOW_CONSUMER"} from the broker's /metrics. */
async function slowCount(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const m = text.split('\n').find((l) => l.startsWith('skiff_protocol_errors_total{code="SLOW_CONSUMER"}'))
  return m ? Number(m.split(' ').pop()) : 0
}

t.test('a consumer that never reads is cut off while memory stays bounded', async (t) => {
  const { broker } = await authBroker(t, [{ name: 'app', token: TOKENS.app, publish: ['orders.>'], subscribe: ['orders.>'] }], {
    fsync: 'never',
    maxPendingBytes: PENDING_LIMIT,
  })
  // 96 MiB in the log first, so what is measured below is only what delivering it costs.
  const producer = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'producer', token: TOKENS.app })
  t.teardown(() => producer.close())
  const payload = Buffer.alloc(16 * 1024, 7)
  const total = 6000
  const p = producer.producer({ maxInFlight: 200 })
  for (let i = 0; i < total; i += 200) await Promise.all(Array.from({ length: Math.min(200, total - i) }, () => p.publish('orders.flood', payload)))
  t.pass(`${total} messages of 16 KiB published and confirmed`)
  const rssBefore = rssMiB()

  const slow = await login(broker.port, TOKENS.app)
  let received = 0
  slow.socket.on('data', (c: Buffer) => (received += c.length))
  slow.write(encodeSubscribe({ corr: 1, sub: 1, topic: 'orders.flood', group: 'g', start: 'earliest', maxInFlight: 500 }))
  slow.socket.pause() // from here on it reads nothing

  let n = 0
  for (let i = 0; i < 100 && (n = await slowCount(broker.httpPort)) < 1; i++) await new Promise((r) => setTimeout(r, 50))
  t.equal(n, 1, 'counted once as SLOW_CONSUMER')
  const grown = rssMiB() - rssBefore
  t.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB (under 64) with 96 MiB owed to the consumer`)
  t.match(await p.publish('orders.flood', 'after'), { offset: total }, 'publishing goes on')

  slow.socket.resume() // read what the kernel held: the stream then ends
  t.ok(await slow.waitClosed(5000), 'the consumer connection is closed')
  t.ok(received < (total * payload.length) / 2, `it got ${(received / 1048576).toFixed(1)} MiB of the 96 MiB before the cut`)
  t.equal(slow.errors().length, 0, 'no ERROR is queued behind the bytes it would not read')
})

t.test('a client that pipelines requests and never reads the answers is cut off too', async (t) => {
  const { broker } = await authBroker(t, [{ name: 'app', token: TOKENS.app, admin: true }], { maxPendingBytes: 64 * 1024 })
  const p = await login(broker.port, TOKENS.app)
  // 100 topics with long names make each TOPIC_LIST answer about 8 KB.
  for (let i = 0; i < 100; i++) p.write(encodeTopicCreate({ corr: 10_000 + i, topic: `orders.${String(i).padStart(3, '0')}-${'x'.repeat(60)}` }))
  t.ok(await p.waitFor((f) => f.opcode === Op.OK && (unpack(f.body) as { corr: number }).corr === 10_099), 'topics created')
  p.socket.pause()
  let closed = false
  p.socket.on('close', () => (closed = true))
  // Up to 5,000 lists (40 MB of answers owed, far more than loopback buffers hold), stopping once counted.
  let n = 0
  for (let i = 0; i < 50 && !closed && n < 1; i++) {
    p.socket.write(Buffer.concat(Array.from({ length: 100 }, (_, j) => encodeTopicList(i * 100 + j))))
    await new Promise((r) => setTimeout(r, 20))
    n = await slowCount(broker.httpPort)
  }
  for (let i = 0; i < 100 && (n = await slowCount(broker.httpPort)) < 1; i++) await new Promise((r) => setTimeout(r, 50))
  t.equal(n, 1, 'counted as SLOW_CONSUMER')
  p.socket.resume()
  t.ok(await p.waitClosed(5000), 'closed')
})
