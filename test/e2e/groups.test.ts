import t from 'tap'
import type { Message } from '../../clients/index.js'
import { stringHash } from '../../protocol/index.js'
import { WORKER_COUNTS, Reader, publishAll, startTestBroker } from './helpers.js'

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('fan-out: every group sees every message', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'fan', Array.from({ length: 10 }, (_, i) => `m${i}`))
      const billing = new Reader(await client.subscribe('fan', { group: 'billing', from: 'earliest' }))
      const audit = new Reader(await client.subscribe('fan', { group: 'audit', from: 'earliest' }))
      for (const r of [billing, audit]) {
        const msgs = await r.take(10)
        t.same(msgs.map((m) => m.decode()), Array.from({ length: 10 }, (_, i) => `m${i}`), `${r.consumer.group} got all, in order`)
        for (const m of msgs) m.ack()
        t.equal(await r.next(150), undefined, `${r.consumer.group} got nothing twice`)
      }
    })

    t.test('two members of one group split the work', async (t) => {
      const a = await tb.client({ name: 'member-a' })
      const b = await tb.client({ name: 'member-b' })
      const ra = new Reader(await a.subscribe('work', { group: 'workers', from: 'earliest', maxInFlight: 3 }))
      const rb = new Reader(await b.subscribe('work', { group: 'workers', from: 'earliest', maxInFlight: 3 }))
      await publishAll(a, 'work', Array.from({ length: 30 }, (_, i) => i))
      const got: Record<string, number[]> = { a: [], b: [] }
      // Read from both until all 30 are in, acking each; bounded by the message count and per-read deadline.
      for (let rounds = 0; got.a!.length + got.b!.length < 30 && rounds < 200; rounds++) {
        for (const [name, r] of [['a', ra], ['b', rb]] as const) {
          const m = await r.next(50)
          if (m) {
            got[name]!.push(m.offset)
            m.ack()
          }
        }
      }
      const all = [...got.a!, ...got.b!].sort((x, y) => x - y)
      t.same(all, Array.from({ length: 30 }, (_, i) => i), 'every message once across the group')
      t.ok(got.a!.length > 0 && got.b!.length > 0, `both members worked (a: ${got.a!.length}, b: ${got.b!.length})`)
    })

    t.test('a member leaving hands its unacked messages to the other', async (t) => {
      const a = await tb.client()
      const b = await tb.client()
      await publishAll(a, 'handover', ['x', 'y', 'z'])
      const ca = await a.subscribe('handover', { group: 'h', from: 'earliest', maxInFlight: 10 })
      const held = await new Reader(ca).take(3)
      t.same(held.map((m) => m.deliveryCount), [1, 1, 1])
      const rb = new Reader(await b.subscribe('handover', { group: 'h', from: 'earliest' }))
      t.equal(await rb.next(200), undefined, 'nothing for b while a holds them')
      await ca.close()
      const again = await rb.take(3)
      t.same(again.map((m) => m.decode()).sort(), ['x', 'y', 'z'])
      t.ok(again.every((m) => m.deliveryCount === 2), 'redelivered, counted')
      for (const m of again) m.ack()
    })

    t.test('a member that disconnects hands its messages over too', async (t) => {
      const a = await tb.client()
      const b = await tb.client()
      await publishAll(b, 'dropped', ['p', 'q'])
      await new Reader(await a.subscribe('dropped', { group: 'd', from: 'earliest' })).take(2)
      const rb = new Reader(await b.subscribe('dropped', { group: 'd', from: 'earliest' }))
      await a.close()
      const again = await rb.take(2)
      t.same(again.map((m) => m.decode()).sort(), ['p', 'q'])
    })

    t.test('per-key order holds within each partition of a 4-partition topic', async (t) => {
      const client = await tb.client()
      await client.admin.createTopic('keyed', { partitions: 4 })
      const keys = Array.from({ length: 8 }, (_, i) => `customer-${i}`)
      const payloads = Array.from({ length: 48 }, (_, i) => ({ key: keys[i % 8]!, seq: Math.floor(i / 8) }))
      const sent = await publishAll(client, 'keyed', payloads, (i) => keys[i % 8]!)
      sent.forEach((s, i) => t.equal(s.partition, stringHash(keys[i % 8]!) % 4, `${keys[i % 8]} -> partition by key hash`))
      const reader = new Reader(await client.subscribe('keyed', { group: 'ordered', from: 'earliest', maxInFlight: 100 }))
      const msgs = await reader.take(48)
      for (const m of msgs) m.ack()
      const byKey = new Map<string, Message[]>()
      for (const m of msgs) byKey.set(m.key!, [...(byKey.get(m.key!) ?? []), m])
      for (const [key, list] of byKey) {
        t.same(list.map((m) => (m.decode() as { seq: number }).seq), [0, 1, 2, 3, 4, 5], `${key}: in publish order`)
        t.equal(new Set(list.map((m) => m.partition)).size, 1, `${key}: one partition`)
      }
      const byPartition = new Map<number, number[]>()
      for (const m of msgs) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m.offset])
      for (const [p, offsets] of byPartition) t.same(offsets, [...offsets].sort((x, y) => x - y), `partition ${p} delivered in offset order`)
    })
  })
}
