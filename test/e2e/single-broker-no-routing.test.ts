/**
 * A broker that is not in a cluster (its WELCOME has no `clustered`) gets
 * exactly what it got before cluster routing existed: one connection, no
 * METADATA request, keyed and keyless publishes and a subscription on it.
 */
import t from 'tap'
import { connect, type Message } from '../../clients/index.js'
import { Op } from '../../protocol/index.js'
import { startFaultyLink } from './faulty-link.js'
import { eventually, startTestBroker } from './helpers.js'

t.test('a single broker: one connection, no METADATA', async (t) => {
  const tb = await startTestBroker(t, 1)
  const link = await startFaultyLink(tb.broker.port)
  t.teardown(() => link.close())
  const client = await connect(link.url, { name: 'single', requestTimeoutMs: 10_000 })
  t.teardown(() => client.close())
  t.notOk(client.welcome.clustered, 'the broker does not say clustered')

  await client.admin.createTopic('plain', { partitions: 4 })
  const got: string[] = []
  await client.subscribe('plain', { group: 'g', from: 'earliest' }, (msg: Message) => {
    got.push(msg.decode<string>())
    msg.ack()
  })
  const producer = client.producer()
  const sent = await Promise.all([...Array.from({ length: 20 }, (_, i) => producer.publish('plain', `k${i}`, { key: `key${i % 5}` })), producer.publish('plain', 'keyless')])
  t.equal(sent.length, 21)
  await eventually('all 21 received', async () => got.length >= 21)
  await client.close()
  t.equal(link.connections, 1, 'one connection, as before')
  t.notOk(link.sent.includes(Op.METADATA), 'no METADATA request')
  t.ok(link.sent.includes(Op.SUBSCRIBE) && link.sent.includes(Op.PUBLISH), 'publishes and the subscription went on it')
})
