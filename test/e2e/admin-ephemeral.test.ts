/**
 * Ephemeral subscriptions (SUBSCRIBE without a group): they start at the
 * end, get acks as usual, are never listed, and leave nothing on disk when
 * they end, by unsubscribe or by disconnect.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { WORKER_COUNTS, Reader, eventually, publishAll, startTestBroker, type TestBroker } from './helpers.js'

/** Every file under the topic's groups directories. */
function groupFiles(tb: TestBroker, topic: string): string[] {
  const dir = path.join(tb.dataDir, 'topics', topic)
  const out: string[] = []
  for (const p of fs.readdirSync(dir).filter((n) => /^\d+$/.test(n))) {
    const groups = path.join(dir, p, 'groups')
    if (fs.existsSync(groups)) out.push(...fs.readdirSync(groups).map((f) => path.join(p, f)))
  }
  return out
}

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('an ephemeral subscription starts at latest, is not listed, and leaves no files', async (t) => {
      const client = await tb.client()
      await client.admin.createTopic('eph-ticks', { partitions: 2 })
      await publishAll(client, 'eph-ticks', ['old-1', 'old-2'], (i) => `k${i}`)
      const consumer = await client.subscribe('eph-ticks', {})
      const reader = new Reader(consumer)
      await publishAll(client, 'eph-ticks', ['new-1', 'new-2', 'new-3'], (i) => `k${i}`)
      const got = await reader.take(3)
      t.same(got.map((m) => m.decode()).sort(), ['new-1', 'new-2', 'new-3'], 'only what came after it')
      got[0]!.nack()
      const [again] = await reader.take(1)
      t.equal(again!.decode(), got[0]!.decode(), 'a nack redelivers, as for any group')
      t.equal(again!.deliveryCount, 2)
      for (const m of [again!, ...got.slice(1)]) m.ack()
      t.same(await client.admin.listGroups('eph-ticks'), [], 'not listed')
      t.same(await client.admin.listGroups(), [])

      await consumer.close()
      // A durable group made alongside for contrast: it has files, the ephemeral one never had.
      const durable = await client.subscribe('eph-ticks', { group: 'kept' })
      await durable.close()
      t.ok(groupFiles(tb, 'eph-ticks').some((f) => f.includes('kept.state')))
      t.same(groupFiles(tb, 'eph-ticks').filter((f) => !/kept\.state|groups\.manifest/.test(f)), [], 'no file of the ephemeral group')
      await tb.restart()
      const c2 = await tb.client()
      t.same((await c2.admin.listGroups('eph-ticks')).map((g) => g.group), ['kept'], 'after a restart, only the durable group')
    })

    t.test('an ephemeral group ends when its connection goes; two ephemeral subscriptions each see everything', async (t) => {
      const a = await tb.client()
      const b = await tb.client()
      const ca = new Reader(await a.subscribe('eph-fanout', { from: 'earliest' }))
      const cb = new Reader(await b.subscribe('eph-fanout', {}))
      await publishAll(a, 'eph-fanout', [1, 2])
      t.same((await ca.take(2)).map((m) => m.decode()), [1, 2])
      t.same((await cb.take(2)).map((m) => m.decode()), [1, 2], 'each has a group of its own')
      const other = await tb.client()
      await a.close()
      await b.close()
      await eventually('the groups to go', async () => (await other.admin.listGroups('eph-fanout')).length === 0)
      t.same(groupFiles(tb, 'eph-fanout'), [])
    })
  })
}
