/**
 * TOPIC_PURGE and TOPIC_ALTER over a real broker: offsets after a purge (and
 * after a restart), groups moved up to the new start, retention changes,
 * partitions added (to the dead-letter topic too, joined by open
 * subscriptions), and the refusal to remove partitions.
 */
import t from 'tap'
import { WORKER_COUNTS, Reader, eventually, publishAll, startTestBroker } from './helpers.js'

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('purge drops every record; offsets go on from the old end, also after a restart', async (t) => {
      let client = await tb.client()
      await client.admin.createTopic('tp-events', { partitions: 2, segmentBytes: 4096 })
      const payload = 'x'.repeat(300)
      // One at a time, so they are many batches and fill several segments.
      const producer = client.producer()
      const sent: { partition: number }[] = []
      for (let i = 0; i < 60; i++) sent.push(await producer.publish('tp-events', payload, { key: `k${i}` }))
      const ends = [0, 1].map((p) => sent.filter((s) => s.partition === p).length)
      const consumer = await client.subscribe('tp-events', { group: 'slow', from: 'earliest', maxInFlight: 1 })
      ;(await new Reader(consumer).take(1))[0]!.ack()
      await consumer.close()
      t.ok((await client.admin.describeTopic('tp-events')).partitionInfo.some((p) => p.segments > 1), 'several segments before')

      const r = await client.admin.purgeTopic('tp-events')
      t.same(r.partitions.map((p) => [p.partition, p.startOffset, p.purged]), ends.map((e, p) => [p, e, e]))
      const d = await client.admin.describeTopic('tp-events')
      for (const p of d.partitionInfo) {
        t.equal(p.startOffset, ends[p.partition], `partition ${p.partition} starts at its old end`)
        t.equal(p.endOffset, ends[p.partition])
        t.equal(p.segments, 1, 'one (empty) segment left')
        t.equal(p.bytes, 0)
      }
      t.same((await client.admin.describeGroup('tp-events', 'slow')).partitions.map((p) => p.committed), ends, 'the group behind moved up to the new start')

      await tb.restart()
      client = await tb.client()
      const after = await client.producer().publish('tp-events', 'new', { key: 'k0' })
      t.equal(after.offset, ends[after.partition], 'the next record takes the offset after the old end')
      const c2 = await client.subscribe('tp-events', { group: 'slow' })
      const [m] = await new Reader(c2).take(1)
      t.equal(m!.decode(), 'new', 'nothing purged comes back')
      m!.ack()
      await t.rejects(client.admin.purgeTopic('tp-nothing'), { codeName: 'UNKNOWN_TOPIC' })
    })

    t.test('alter: retention, and partitions only added, to the dead-letter topic too', async (t) => {
      const client = await tb.client()
      await client.admin.createTopic('ta-jobs', { partitions: 1 })
      let d = await client.admin.alterTopic('ta-jobs', { retentionMs: 7 * 24 * 3600 * 1000, retentionBytes: 1 << 30 })
      t.match(d, { topic: 'ta-jobs', partitions: 1, retentionMs: 7 * 24 * 3600 * 1000, retentionBytes: 1 << 30 })

      await publishAll(client, 'ta-jobs', ['before'])
      const dlq = await client.subscribe('ta-jobs.dlq', { group: 'dead', from: 'earliest' })
      const consumer = await client.subscribe('ta-jobs', { group: 'workers', from: 'earliest', maxDeliveries: 1 })
      const reader = new Reader(consumer)
      const [before] = await reader.take(1)
      before!.ack()
      const idle = await client.subscribe('ta-jobs', { group: 'idle', from: 'earliest' })
      await idle.close()

      d = await client.admin.alterTopic('ta-jobs', { partitions: 3 })
      t.equal(d.partitions, 3)
      t.equal(d.partitionInfo.length, 3)
      t.equal(d.retentionMs, 7 * 24 * 3600 * 1000, 'retention kept')
      t.equal((await client.admin.describeTopic('ta-jobs.dlq')).partitions, 3, 'the dead-letter topic grows with it')
      await t.rejects(client.admin.alterTopic('ta-jobs', { partitions: 2 }), { codeName: 'INVALID_REQUEST', message: /only be added/ })
      await t.rejects(client.admin.alterTopic('ta-jobs.dlq', { partitions: 4 }), { codeName: 'INVALID_REQUEST', message: /dead-letter/ })
      await t.rejects(client.admin.alterTopic('ta-jobs', {}), { codeName: 'INVALID_REQUEST' })
      await t.rejects(client.admin.alterTopic('ta-none', { partitions: 2 }), { codeName: 'UNKNOWN_TOPIC' })

      // Keys spread over the new partitions; the open subscription gets them all without subscribing again.
      const sent = await publishAll(client, 'ta-jobs', Array.from({ length: 30 }, (_, i) => i), (i) => `key-${i}`)
      const used = new Set(sent.map((s) => s.partition))
      t.ok(used.has(1) || used.has(2), 'new partitions take messages')
      const got = await reader.take(30)
      t.same(new Set(got.map((m) => m.partition)), used, 'the open subscription reads the new partitions')
      // A message terminated on a new partition dead-letters into the .dlq partition of the same number.
      const onNew = got.find((m) => m.partition > 0)!
      for (const m of got) (m === onNew ? m.term() : m.ack())
      const [dead] = await new Reader(dlq).take(1)
      t.equal(dead!.partition, onNew.partition)

      const idleGroup = await client.admin.describeGroup('ta-jobs', 'idle')
      t.same(idleGroup.partitions.map((p) => p.partition), [0, 1, 2], 'a group without members starts on the new partitions too')
      t.ok(idleGroup.partitions.filter((p) => p.partition > 0).every((p) => p.committed === 0), 'at their beginning: nothing is skipped')
      await eventually('every ack to land', async () => (await client.admin.describeGroup('ta-jobs', 'workers')).partitions.every((p) => p.lag === 0))
    })
  })
}
