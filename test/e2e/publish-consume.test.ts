import t from 'tap'
import { WORKER_COUNTS, Reader, publishAll, startTestBroker } from './helpers.js'

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('published messages are consumed in order with their key, headers and payload', async (t) => {
      const client = await tb.client()
      const producer = client.producer()
      const before = Date.now()
      const sent = await Promise.all([
        producer.publish('orders', 'plain text', { key: 'customer-42', headers: { trace: 'abc' } }),
        producer.publish('orders', { id: 7, items: ['a', 'b'] }),
        producer.publish('orders', Buffer.from([0, 1, 2, 255])),
        producer.publish('orders', JSON.stringify({ j: true }), { headers: { 'content-type': 'application/json' } }),
      ])
      t.same(sent.map((s) => s.offset), [0, 1, 2, 3], 'confirmed offsets in publish order')
      t.ok(sent.every((s) => s.partition === 0))

      const reader = new Reader(await client.subscribe('orders', { group: 'g1', from: 'earliest' }))
      const msgs = await reader.take(4)
      t.same(msgs.map((m) => m.offset), [0, 1, 2, 3])
      t.same(msgs.map((m) => m.decode()), ['plain text', { id: 7, items: ['a', 'b'] }, Buffer.from([0, 1, 2, 255]), { j: true }])
      t.equal(msgs[0]!.key, 'customer-42')
      t.equal(msgs[0]!.headers.trace, 'abc')
      t.equal(msgs[1]!.key, undefined)
      t.same(msgs[2]!.headers, {}, 'bytes carry no content-type')
      t.ok(msgs.every((m) => m.topic === 'orders' && m.deliveryCount === 1 && m.partition === 0))
      t.ok(msgs.every((m) => m.timestamp >= before - 1000 && m.timestamp <= Date.now() + 1000), 'timestamps are append times')
      for (const m of msgs) m.ack()
      t.equal(await reader.next(200), undefined, 'nothing more')
    })

    t.test('fire-and-forget sends are delivered too', async (t) => {
      const client = await tb.client()
      const producer = client.producer()
      for (let i = 0; i < 30; i++) producer.send('metrics', { i })
      await producer.flush()
      const reader = new Reader(await client.subscribe('metrics', { group: 'm', from: 'earliest' }))
      const msgs = await reader.take(30)
      t.same(msgs.map((m) => (m.decode() as { i: number }).i), Array.from({ length: 30 }, (_, i) => i))
      for (const m of msgs) m.ack()
    })

    t.test('start positions: latest sees only new messages, an offset starts there', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'positions', ['a', 'b', 'c', 'd'])
      const latest = new Reader(await client.subscribe('positions', { group: 'late', from: 'latest' }))
      const fromOffset = new Reader(await client.subscribe('positions', { group: 'mid', from: { offset: 2 } }))
      t.same((await fromOffset.take(2)).map((m) => m.decode()), ['c', 'd'])
      t.equal(await latest.next(200), undefined, 'latest skips what was there')
      await publishAll(client, 'positions', ['e'])
      t.same((await latest.take(1)).map((m) => m.decode()), ['e'])
      t.same((await fromOffset.take(1)).map((m) => m.decode()), ['e'])
    })

    t.test('a timestamp start replays from the first message appended at or after it', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'replay', ['old-1', 'old-2'])
      await new Promise((r) => setTimeout(r, 30))
      const since = new Date()
      await new Promise((r) => setTimeout(r, 30))
      await publishAll(client, 'replay', ['new-1', 'new-2'])
      const reader = new Reader(await client.subscribe('replay', { group: 'since', from: { timestamp: since } }))
      const msgs = await reader.take(2)
      t.same(msgs.map((m) => m.decode()), ['new-1', 'new-2'])
      t.ok(msgs.every((m) => m.timestamp >= since.getTime()))
      t.equal(await reader.next(200), undefined)
    })

    t.test('a consumer holds at most maxInFlight unsettled messages', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'credits', Array.from({ length: 12 }, (_, i) => i))
      const consumer = await client.subscribe('credits', { group: 'c', from: 'earliest', maxInFlight: 5 })
      const reader = new Reader(consumer)
      const first = await reader.take(5)
      t.equal(await reader.next(300), undefined, 'the sixth waits for a credit')
      t.ok(consumer.buffered <= 5)
      for (const m of first) m.ack()
      const second = await reader.take(5)
      t.same(second.map((m) => m.offset), [5, 6, 7, 8, 9])
      for (const m of second) m.ack()
      const rest = await reader.take(2)
      for (const m of rest) m.ack()
      t.same(rest.map((m) => m.offset), [10, 11])
    })

    t.test('2500 publishes (several PUBLISH frames) arrive whole and in order', async (t) => {
      const client = await tb.client()
      const producer = client.producer({ maxInFlight: 3000 })
      const payload = Buffer.alloc(600, 7)
      const sent = await Promise.all(Array.from({ length: 2500 }, (_, i) => producer.publish('bulk', i % 100 === 0 ? payload : { i })))
      t.same(sent.map((s) => s.offset), Array.from({ length: 2500 }, (_, i) => i))
      const reader = new Reader(await client.subscribe('bulk', { group: 'b', from: 'earliest', maxInFlight: 1000 }))
      let next = 0
      while (next < 2500) {
        const m = await reader.next(5000)
        if (!m) break
        if (m.offset !== next) break
        next++
        m.ack()
      }
      t.equal(next, 2500, 'every offset once, in order')
    })
  })
}
