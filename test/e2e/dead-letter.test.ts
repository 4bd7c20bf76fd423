import t from 'tap'
import { WORKER_COUNTS, Reader, publishAll, startTestBroker } from './helpers.js'

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('term() dead-letters now, to <topic>.dlq with the origin headers', async (t) => {
      const client = await tb.client()
      await client.admin.createTopic('payments', { partitions: 2 })
      const sent = await client.producer().publish('payments', { amount: 12 }, { key: 'acct-1', headers: { trace: 't1' } })
      const reader = new Reader(await client.subscribe('payments', { group: 'billing', from: 'earliest' }))
      const [msg] = await reader.take(1)
      msg!.term()
      t.equal(await reader.next(300), undefined, 'a termed message is not redelivered')

      const dlq = new Reader(await client.subscribe('payments.dlq', { group: 'ops', from: 'earliest' }))
      const [dead] = await dlq.take(1)
      t.same(dead!.decode(), { amount: 12 }, 'payload unchanged')
      t.equal(dead!.key, 'acct-1')
      t.match(dead!.headers, {
        trace: 't1',
        'content-type': 'application/msgpack',
        'x-dlq-topic': 'payments',
        'x-dlq-partition': String(sent.partition),
        'x-dlq-offset': String(sent.offset),
        'x-dlq-deliveries': '1',
        'x-dlq-reason': /term/,
      })
      dead!.ack()
    })

    t.test('after maxDeliveries the message goes to the dead-letter topic', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'flaky', ['poison', 'fine'])
      const reader = new Reader(await client.subscribe('flaky', { group: 'w', from: 'earliest', ackTimeoutMs: 300, maxDeliveries: 2, maxInFlight: 10 }))
      const first = await reader.take(2)
      const poison = first.find((m) => m.decode() === 'poison')!
      first.find((m) => m.decode() === 'fine')!.ack()
      t.equal(poison.deliveryCount, 1)
      const [second] = await reader.take(1, 5000) // ack timeout: delivery 2 of 2
      t.equal(second!.offset, poison.offset)
      t.equal(second!.deliveryCount, 2)
      // Not acked again: the next timeout dead-letters it instead of a third delivery.
      t.equal(await reader.next(900), undefined, 'no third delivery')

      const dlq = new Reader(await client.subscribe('flaky.dlq', { group: 'ops', from: 'earliest' }))
      const [dead] = await dlq.take(1, 5000)
      t.equal(dead!.decode(), 'poison')
      t.match(dead!.headers, {
        'x-dlq-topic': 'flaky',
        'x-dlq-partition': String(poison.partition),
        'x-dlq-offset': String(poison.offset),
        'x-dlq-deliveries': '2',
        'x-dlq-reason': /deliver/,
      })
      const topics = await client.admin.listTopics()
      t.ok(topics.some((x) => x.topic === 'flaky.dlq'), 'the dead-letter topic is listed')
    })
  })
}
