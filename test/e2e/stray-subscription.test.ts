/**
 * A subscription the broker made after its client stopped waiting for it (the
 * SUBSCRIBE's answer came after the client's request timeout): the broker
 * counts it as a member of the group, so it is sent its share of the
 * records. The client answers the first DELIVER for it with UNSUBSCRIBE
 * (clients/stray-subscriptions.ts), and the broker hands what it held there
 * to the group's other member at once, rather than after the stray's ack
 * timeout, again and again.
 */
import t from 'tap'
import { connect, type Message } from '../../clients/index.js'
import { startFaultyLink } from './faulty-link.js'
import { eventually, startTestBroker } from './helpers.js'

const TOPIC = 'strays'
const GROUP = 'g'
const RECORDS = 200

t.test('records sent to a subscription its client gave up on reach the group member that is there', async (t) => {
  const tb = await startTestBroker(t, 1)
  const admin = await tb.client()
  await admin.admin.createTopic(TOPIC, { partitions: 1 })
  const got = new Set<number>()
  const live = await tb.client()
  await live.subscribe(TOPIC, { group: GROUP, from: 'earliest', maxInFlight: 20 }, (m: Message) => {
    got.add(m.offset)
    m.ack()
  })

  const link = await startFaultyLink(tb.broker.port)
  t.teardown(link.close)
  const lateClient = await connect(link.url, { name: 'late', requestTimeoutMs: 300 })
  t.teardown(() => lateClient.close())
  link.holdFromBroker(1000)
  // The stray's own ack timeout is long: without the client's UNSUBSCRIBE what it is sent would wait a minute.
  await t.rejects(lateClient.subscribe(TOPIC, { group: GROUP, from: 'earliest', maxInFlight: 20, ackTimeoutMs: 60_000 }), { code: 'TIMEOUT' }, 'the client stops waiting for the SUBSCRIBE')
  await eventually('the broker to count the late subscription', async () => (await admin.admin.describeGroup(TOPIC, GROUP)).members === 2)

  const producer = admin.producer()
  for (let i = 0; i < RECORDS; i++) await producer.publish(TOPIC, `r${i}`)
  await eventually(`all ${RECORDS} records at the live member`, async () => got.size === RECORDS, 10_000)
  t.equal(got.size, RECORDS, 'every record reached the member that is there')
  t.equal((await admin.admin.describeGroup(TOPIC, GROUP)).members, 1, 'the stray subscription is gone from the group')
})
