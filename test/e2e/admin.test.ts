import t from 'tap'
import { WORKER_COUNTS, Reader, publishAll, startTestBroker } from './helpers.js'

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('create, describe, list and delete topics', async (t) => {
      const client = await tb.client()
      const created = await client.admin.createTopic('inventory', { partitions: 3, retentionMs: 3_600_000, retentionBytes: 10_000_000 })
      t.match(created, { topic: 'inventory', partitions: 3, retentionMs: 3_600_000, retentionBytes: 10_000_000 })
      await t.rejects(client.admin.createTopic('inventory'), { name: 'SkiffError', codeName: 'TOPIC_EXISTS' })
      await t.rejects(client.admin.createTopic('bad name'), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })

      await publishAll(client, 'inventory', Array.from({ length: 9 }, (_, i) => i), (i) => `sku-${i}`)
      const d = await client.admin.describeTopic('inventory')
      t.equal(d.partitions, 3)
      t.same(d.partitionInfo.map((p) => p.partition).sort(), [0, 1, 2])
      t.equal(d.partitionInfo.reduce((n, p) => n + p.endOffset - p.startOffset, 0), 9, 'nine messages across the partitions')
      t.ok(d.partitionInfo.every((p) => p.corrupt.length === 0 && p.bytes >= 0))

      const list = await client.admin.listTopics()
      t.ok(list.some((x) => x.topic === 'inventory' && x.partitions === 3))

      await client.admin.deleteTopic('inventory')
      t.notOk((await client.admin.listTopics()).some((x) => x.topic === 'inventory'), 'gone from the list')
      await t.rejects(client.admin.describeTopic('inventory'), { name: 'SkiffError', codeName: 'UNKNOWN_TOPIC' })
      await t.rejects(client.admin.deleteTopic('inventory'), { name: 'SkiffError', codeName: 'UNKNOWN_TOPIC' })

      const again = await client.admin.createTopic('inventory')
      t.equal(again.partitions, 1, 'a deleted name can be created again, with defaults')
      const fresh = await publishAll(client, 'inventory', ['new'])
      t.equal(fresh[0]!.offset, 0, 'starting empty')
    })

    t.test('list and describe groups, with lag and in-flight counts', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'shipments', Array.from({ length: 6 }, (_, i) => i))
      const consumer = await client.subscribe('shipments', { group: 'dispatch', from: 'earliest', maxInFlight: 10 })
      const reader = new Reader(consumer)
      const msgs = await reader.take(6)
      for (const m of msgs.slice(0, 4)) m.ack()
      await client.subscribe('shipments', { group: 'audit', from: 'latest' })

      const groups = await client.admin.listGroups('shipments')
      t.same(groups.map((g) => g.group).sort(), ['audit', 'dispatch'])
      t.ok((await client.admin.listGroups()).some((g) => g.topic === 'shipments' && g.group === 'dispatch'), 'listed without a topic filter too')

      let d = await client.admin.describeGroup('shipments', 'dispatch')
      for (let i = 0; i < 50 && d.partitions[0]!.inFlight !== 2; i++) {
        await new Promise((r) => setTimeout(r, 20)) // acks have no reply; give them a moment
        d = await client.admin.describeGroup('shipments', 'dispatch')
      }
      t.match(d, { topic: 'shipments', group: 'dispatch', members: 1 })
      t.match(d.partitions[0], { partition: 0, endOffset: 6, inFlight: 2, next: 6 })
      t.equal(d.partitions[0]!.committed, 4, 'committed up to the first unacked')
      t.equal(d.partitions[0]!.lag, 2, 'lag counts the unsettled')
      await t.rejects(client.admin.describeGroup('shipments', 'nobody'), { name: 'SkiffError', codeName: 'UNKNOWN_GROUP' })
      await t.rejects(client.admin.describeGroup('nowhere', 'dispatch'), { name: 'SkiffError' })
      for (const m of msgs.slice(4)) m.ack()
    })

    t.test('subscribing to a topic that does not exist', async (t) => {
      const client = await tb.client()
      // Auto-create is on by default: a subscription may wait for a topic's first message.
      const reader = new Reader(await client.subscribe('not-yet', { group: 'early', from: 'earliest' }))
      await publishAll(client, 'not-yet', ['first'])
      t.same((await reader.take(1)).map((m) => m.decode()), ['first'])
    })
  })
}
