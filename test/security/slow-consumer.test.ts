/**
 * A consumer that never reads its socket. What it can cost the broker is
 * bounded by its credits (maxInFlight x message size: a partition worker
 * reads and encodes that much at once), not by the backlog it is owed; and
 * once the broker's unwritten output for it passes maxPendingBytes it is
 * disconnected and counted as SLOW_CONSUMER instead of buffered.
 *
 * The cut needs more unread output than the kernel's socket buffers hold
 * (loopback buffers grow to tens of MiB), so the consumer also keeps asking
 * (pipelined TOPIC_DESCRIBE) without reading the answers: that makes the
 * test deterministic without owing it hundreds of MiB of deliveries.
 */
import t from 'tap'
import { Op, encodeSubscribe, encodeTopicRef } from '../../protocol/index.js'
import { connect } from '../../clients/index.js'
import { TOKENS, authBroker, login, rssMiB } from './helpers.js'

const PENDING_LIMIT = 256 * 1024

/** skiff_protocol_errors_total{code="SLOW_CONSUMER"} from the broker's /metrics. */
async function slowCount(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const m = text.split('\n').find((l) => l.startsWith('skiff_protocol_errors_total{code="SLOW_CONSUMER"}'))
  return m ? Number(m.split(' ').pop()) : 0
}

t.test('a consumer that never reads costs its credits, not its backlog, and is cut off', async (t) => {
  const { broker } = await authBroker(t, [{ name: 'app', token: TOKENS.app, publish: ['orders.>'], subscribe: ['orders.>'] }], {
    fsync: 'never',
    maxPendingBytes: PENDING_LIMIT,
  })
  // 160 MiB in the log first, so what is measured below is only what delivering it costs.
  const producer = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'producer', token: TOKENS.app })
  t.teardown(() => producer.close())
  const payload = Buffer.alloc(32 * 1024, 7)
  const total = 5000
  const owed = (total * payload.length) / 1048576
  const p = producer.producer({ maxInFlight: 200 })
  for (let i = 0; i < total; i += 200) await Promise.all(Array.from({ length: Math.min(200, total - i) }, () => p.publish('orders.flood', payload)))
  t.pass(`${total} messages of 32 KiB published and confirmed`)
  const rssBefore = rssMiB()

  const slow = await login(broker.port, TOKENS.app)
  // 250 credits x 32 KiB = 8 MiB may be in flight.
  slow.write(encodeSubscribe({ corr: 1, sub: 1, topic: 'orders.flood', group: 'g', start: 'earliest', maxInFlight: 250 }))
  slow.socket.pause() // from here on it reads nothing
  await new Promise((r) => setTimeout(r, 1000))
  const grown = rssMiB() - rssBefore
  t.ok(grown < owed / 2, `RSS grew ${grown.toFixed(1)} MiB (under ${owed / 2}) with ${owed} MiB owed to the consumer`)

  // It keeps asking and never reads the answers: its unread output passes any socket buffer.
  const ask = Buffer.concat(Array.from({ length: 500 }, (_, i) => encodeTopicRef(Op.TOPIC_DESCRIBE, { corr: 10 + i, topic: 'orders.flood' })))
  let n = 0
  for (let i = 0; i < 1000 && n < 1 && !slow.closed; i++) {
    slow.socket.write(ask)
    await new Promise((r) => setTimeout(r, 10))
    if (i % 10 === 9) n = await slowCount(broker.httpPort)
  }
  for (let i = 0; i < 100 && (n = await slowCount(broker.httpPort)) < 1; i++) await new Promise((r) => setTimeout(r, 50))
  t.equal(n, 1, 'counted once as SLOW_CONSUMER')
  t.ok(rssMiB() - rssBefore < owed / 2, `and RSS stayed under ${owed / 2} MiB above where it started`)
  t.match(await p.publish('orders.flood', 'after'), { offset: total }, 'publishing goes on')

  slow.socket.resume()
  t.ok(await slow.waitClosed(5000), 'the consumer connection is closed')
})
