import t from 'tap'
import { WORKER_COUNTS, Reader, eventually, publishAll, startTestBroker } from './helpers.js'

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    t.test('a restart keeps every confirmed message and the group progress', async (t) => {
      const tb = await startTestBroker(t, workers)
      let client = await tb.client()
      await client.admin.createTopic('ledger', { partitions: 3 })
      const sent = await publishAll(client, 'ledger', Array.from({ length: 30 }, (_, i) => ({ i })), (i) => `k${i % 5}`)
      // The broker splits a subscription's credits over its workers by their share of the partitions
      // (at least ceil(maxInFlight / 3) for one partition), and the keys put 18 of the 30 messages on one
      // partition: 90 lets all 30 be in flight at once, whatever the split.
      const reader = new Reader(await client.subscribe('ledger', { group: 'books', from: 'earliest', maxInFlight: 90 }))
      const msgs = await reader.take(30)
      const acked = msgs.slice(0, 18)
      for (const m of acked) m.ack()
      const ackedIds = new Set(acked.map((m) => (m.decode() as { i: number }).i))
      // Acks have no reply: wait until the broker reports them settled before stopping it.
      await eventually('the acks to be committed', async () => {
        const d = await client.admin.describeGroup('ledger', 'books')
        return d.partitions.reduce((n, p) => n + p.inFlight, 0) === 12 || undefined
      })

      await tb.restart()
      client = await tb.client()

      const d = await client.admin.describeTopic('ledger')
      t.equal(d.partitions, 3, 'topic settings survive')
      const perPartition = new Map<number, number>()
      for (const s of sent) perPartition.set(s.partition, (perPartition.get(s.partition) ?? 0) + 1)
      for (const p of d.partitionInfo) t.equal(p.endOffset, perPartition.get(p.partition) ?? 0, `partition ${p.partition} end offset`)

      const everything = new Reader(await client.subscribe('ledger', { group: 'replay', from: 'earliest', maxInFlight: 90 }))
      const all = await everything.take(30)
      t.same(all.map((m) => (m.decode() as { i: number }).i).sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i), 'every confirmed message is there')
      for (const m of all) m.ack()

      const resumed = new Reader(await client.subscribe('ledger', { group: 'books', from: 'earliest', maxInFlight: 90 }))
      const again = await resumed.take(12)
      const ids = again.map((m) => (m.decode() as { i: number }).i)
      t.notOk(ids.some((i) => ackedIds.has(i)), 'acked messages are not delivered again')
      t.same(ids.sort((a, b) => a - b), [...Array(30).keys()].filter((i) => !ackedIds.has(i)), 'the unacked ones are')
      t.ok(again.every((m) => m.deliveryCount >= 2), 'their delivery counts carried over')
      for (const m of again) m.ack()
      t.equal(await resumed.next(300), undefined, 'and nothing else')
    })

    t.test('messages published after the restart continue the offsets', async (t) => {
      const tb = await startTestBroker(t, workers)
      let client = await tb.client()
      const before = await publishAll(client, 'seq', ['a', 'b'])
      await tb.restart()
      client = await tb.client()
      const after = await publishAll(client, 'seq', ['c'])
      t.equal(after[0]!.offset, before[1]!.offset + 1)
      const reader = new Reader(await client.subscribe('seq', { group: 'g', from: 'earliest' }))
      t.same((await reader.take(3)).map((m) => m.decode()), ['a', 'b', 'c'])
    })
  })
}
