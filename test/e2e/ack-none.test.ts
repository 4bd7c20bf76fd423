/**
 * Subscriptions with ack: 'none' (at most once): every message once, in
 * order, settled for the group when sent, never redelivered, and still
 * bounded by maxInFlight; and subscriptions ended by a topic's deletion.
 */
import t from 'tap'
import { Reader, eventually, publishAll, startTestBroker } from './helpers.js'

t.test('ack none: each message once, settled when sent, never redelivered', async (t) => {
  const tb = await startTestBroker(t, 1)
  const client = await tb.client()
  await client.admin.createTopic('ticks', { partitions: 1 })
  await publishAll(client, 'ticks', Array.from({ length: 40 }, (_, i) => `t${i}`))
  const reader = new Reader(await client.subscribe('ticks', { group: 'live', from: 'earliest', ack: 'none', maxInFlight: 10 }))
  const got = await reader.take(40)
  t.same(got.map((m) => m.decode()), Array.from({ length: 40 }, (_, i) => `t${i}`), 'every message, in order, through 10 credits')
  t.ok(got.every((m) => m.deliveryCount === 1), 'deliveryCount is 1')
  t.same([got[0]!.ack(), got[1]!.nack(), got[2]!.term(), got[3]!.inProgress()], [false, false, false, false], 'settling calls do nothing')
  const group = await eventually('the group settled up to the end', async () => {
    const g = await client.admin.describeGroup('ticks', 'live')
    return g.partitions[0]!.committed === 40 ? g : undefined
  })
  t.equal(group.partitions[0]!.lag, 0, 'no lag')
  t.equal(group.partitions[0]!.inFlight, 0, 'nothing held')

  // A member that leaves holding unread messages: they are gone for the group, not redelivered.
  await publishAll(client, 'ticks', Array.from({ length: 5 }, (_, i) => `late${i}`))
  const first = await reader.next(5000)
  t.equal(first?.decode(), 'late0')
  await reader.consumer.close()
  const other = await tb.client({ name: 'other' })
  const explicit = new Reader(await other.subscribe('ticks', { group: 'live', from: 'earliest' }))
  await publishAll(client, 'ticks', ['after'])
  const next = await explicit.next(5000)
  t.equal(next?.decode(), 'after', 'the next member of the group starts after what was sent, not at what was read')
  next?.ack()
})

t.test('ack none: credits still bound what the broker sends', async (t) => {
  const tb = await startTestBroker(t, 1)
  const client = await tb.client()
  const consumer = await client.subscribe('bounded', { group: 'g', from: 'earliest', ack: 'none', maxInFlight: 5 })
  await publishAll(client, 'bounded', Array.from({ length: 30 }, (_, i) => i))
  await eventually('5 buffered', async () => consumer.buffered === 5 || undefined)
  await new Promise((r) => setTimeout(r, 200))
  t.equal(consumer.buffered, 5, 'no more than maxInFlight wait untaken')
  const reader = new Reader(consumer)
  const all = await reader.take(30)
  t.same(all.map((m) => m.decode()), Array.from({ length: 30 }, (_, i) => i), 'taking them lets the rest come')
})

t.test('an unknown ack mode is refused', async (t) => {
  const tb = await startTestBroker(t, 1)
  const client = await tb.client()
  await t.rejects(client.subscribe('x', { group: 'g', ack: 'sometimes' as 'none' }), { codeName: 'INVALID_REQUEST', message: /ack must be/ })
})

t.test('deleting a topic ends its subscriptions with UNKNOWN_TOPIC; others go on', async (t) => {
  const tb = await startTestBroker(t, 1)
  const admin = await tb.client({ name: 'admin' })
  const client = await tb.client({ name: 'reader' })
  const doomed = new Reader(await client.subscribe('doomed', { group: 'g', from: 'earliest' }))
  const kept = new Reader(await client.subscribe('kept', { group: 'g', from: 'earliest' }))
  await admin.admin.deleteTopic('doomed')
  const err = await doomed.consumer.next().then(
    () => undefined,
    (e: unknown) => e,
  )
  t.match(err, { codeName: 'UNKNOWN_TOPIC', message: /doomed was deleted/ }, 'the consumer of the deleted topic ends with the error')
  t.ok(doomed.consumer.closed, 'and is closed')
  t.equal(client.status, 'connected', 'the connection stays open')
  await publishAll(admin, 'kept', ['still here'])
  t.equal((await kept.next(5000))?.decode(), 'still here', 'the other subscription on the connection goes on')
  await publishAll(admin, 'doomed', ['new topic'])
  t.equal(await doomed.next(300), undefined, 'a topic created again under the name does not feed the old subscription')
})
