/**
 * GROUP_DELETE and GROUP_RESET over a real broker: what a group looks like
 * afterwards (describe, list, its files, after a restart), the refusal while
 * members are subscribed, and what a forced change does to those members.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { WORKER_COUNTS, Reader, eventually, publishAll, startTestBroker, type TestBroker } from './helpers.js'

/** Files of `group` in every partition's groups directory of `topic`. */
function groupFiles(tb: TestBroker, topic: string, group: string): string[] {
  const out: string[] = []
  const dir = path.join(tb.dataDir, 'topics', topic)
  for (const p of fs.readdirSync(dir).filter((n) => /^\d+$/.test(n))) {
    const groups = path.join(dir, p, 'groups')
    if (!fs.existsSync(groups)) continue
    for (const f of fs.readdirSync(groups)) if (f.startsWith(group + '.')) out.push(path.join(p, f))
  }
  return out
}

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('a deleted group is gone: state, files, list, and after a restart', async (t) => {
      let client = await tb.client()
      await client.admin.createTopic('gd-orders', { partitions: 3 })
      await publishAll(client, 'gd-orders', Array.from({ length: 9 }, (_, i) => i), (i) => `k${i}`)
      const consumer = await client.subscribe('gd-orders', { group: 'billing', from: 'earliest' })
      for (const m of await new Reader(consumer).take(9)) m.ack()
      await consumer.close()
      t.ok(groupFiles(tb, 'gd-orders', 'billing').length > 0, 'the group had files')

      const r = await client.admin.deleteGroup('gd-orders', 'billing')
      t.same(r, { topic: 'gd-orders', group: 'billing', partitions: 3, endedSubscriptions: 0 })
      t.same(groupFiles(tb, 'gd-orders', 'billing'), [], 'no state file left')
      t.same(await client.admin.listGroups('gd-orders'), [])
      await t.rejects(client.admin.describeGroup('gd-orders', 'billing'), { codeName: 'UNKNOWN_GROUP' })
      await t.rejects(client.admin.deleteGroup('gd-orders', 'billing'), { codeName: 'UNKNOWN_GROUP' }, 'a second delete finds nothing')

      await tb.restart()
      client = await tb.client()
      t.same(await client.admin.listGroups('gd-orders'), [], 'not brought back by a restart (journal, manifest)')
      const again = await client.subscribe('gd-orders', { group: 'billing', from: 'earliest' })
      const msgs = await new Reader(again).take(9)
      t.equal(msgs.length, 9, 'the same name is a new group: it starts where its subscriber asks')
      for (const m of msgs) m.ack()
    })

    t.test('delete is refused while members are subscribed; forced, their subscriptions end', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'gd-busy', ['a', 'b'])
      const consumer = await client.subscribe('gd-busy', { group: 'live', from: 'earliest' })
      const reader = new Reader(consumer)
      await reader.take(2)
      await t.rejects(client.admin.deleteGroup('gd-busy', 'live'), { codeName: 'GROUP_IN_USE', message: /1 subscribed member/ })
      t.equal((await client.admin.describeGroup('gd-busy', 'live')).members, 1, 'still there')

      const ended = consumer.next().then(
        () => 'no error',
        (err: { codeName?: string }) => err.codeName,
      )
      const r = await client.admin.deleteGroup('gd-busy', 'live', { force: true })
      t.match(r, { partitions: 1, endedSubscriptions: 1 })
      t.equal(await ended, 'UNKNOWN_GROUP', "the member's subscription ends with an error saying so")
      t.same(groupFiles(tb, 'gd-busy', 'live'), [])
      t.same(await client.admin.listGroups('gd-busy'), [])
      await publishAll(client, 'gd-busy', ['c'])
      t.same(await client.admin.listGroups('gd-busy'), [], 'the ended member does not recreate it')
    })

    t.test('reset to earliest, latest, an offset and a time; dry run; durable', async (t) => {
      let client = await tb.client()
      await client.admin.createTopic('gr-log', { partitions: 2 })
      const first = await publishAll(client, 'gr-log', Array.from({ length: 10 }, (_, i) => i), (i) => `k${i % 4}`)
      await new Promise((r) => setTimeout(r, 30))
      const cut = Date.now()
      await new Promise((r) => setTimeout(r, 30))
      const later = await publishAll(client, 'gr-log', Array.from({ length: 6 }, (_, i) => 100 + i), (i) => `k${i % 4}`)
      const ends = [0, 1].map((p) => [...first, ...later].filter((x) => x.partition === p).length)
      const consumer = await client.subscribe('gr-log', { group: 'g', from: 'earliest' })
      for (const m of await new Reader(consumer).take(16)) m.ack()
      await eventually('the acks to land', async () => (await client.admin.describeGroup('gr-log', 'g')).partitions.every((p, i) => p.committed === ends[i]))
      await consumer.close()

      const dry = await client.admin.resetGroup('gr-log', 'g', 'earliest', { dryRun: true })
      t.same(dry, { topic: 'gr-log', group: 'g', dryRun: true, partitions: ends.map((e, p) => ({ partition: p, from: e, to: 0 })) })
      t.same((await client.admin.describeGroup('gr-log', 'g')).partitions.map((p) => p.committed), ends, 'a dry run changes nothing')

      const byTime = await client.admin.resetGroup('gr-log', 'g', { timestamp: new Date(cut) })
      const firstPer = [0, 1].map((p) => first.filter((x) => x.partition === p).length)
      t.same(byTime.partitions.map((p) => p.to), firstPer, 'a time goes to the first offset at or after it, per partition')
      let c2 = await client.subscribe('gr-log', { group: 'g' })
      const replay = await new Reader(c2).take(6)
      t.same(replay.map((m) => m.decode()).sort(), [100, 101, 102, 103, 104, 105], 'the messages after the time come again')
      for (const m of replay) m.ack()
      await c2.close()

      const one = await client.admin.resetGroup('gr-log', 'g', { offset: 3 }, { partition: 1 })
      t.same(one.partitions, [{ partition: 1, from: ends[1], to: 3 }], 'only the partition named')
      const clamped = await client.admin.resetGroup('gr-log', 'g', { offset: 1_000_000 }, { partition: 0 })
      t.same(clamped.partitions, [{ partition: 0, from: ends[0], to: ends[0] }], 'an offset past the end is the end')

      await tb.restart()
      client = await tb.client()
      const d = await client.admin.describeGroup('gr-log', 'g')
      t.same(d.partitions.map((p) => p.committed), [ends[0], 3], 'the new position survived a restart')
      c2 = await client.subscribe('gr-log', { group: 'g' })
      const again = await new Reader(c2).take(ends[1]! - 3)
      t.ok(again.every((m) => m.partition === 1 && m.offset >= 3))
      for (const m of again) m.ack()
      await c2.close()

      const latest = await client.admin.resetGroup('gr-log', 'g', 'earliest')
      t.same(latest.partitions.map((p) => p.to), [0, 0])
      t.same((await client.admin.resetGroup('gr-log', 'g', 'latest')).partitions.map((p) => p.to), ends)

      await t.rejects(client.admin.resetGroup('gr-log', 'nobody', 'earliest'), { codeName: 'UNKNOWN_GROUP' })
      await t.rejects(client.admin.resetGroup('gr-log', 'g', 'earliest', { partition: 2 }), { codeName: 'INVALID_REQUEST', message: /no partition 2/ })
      await t.rejects(client.admin.resetGroup('gr-log', 'g', 'sideways' as 'earliest'), { codeName: 'INVALID_REQUEST' })
    })

    t.test('reset is refused while members are subscribed; forced, delivery restarts at the new position', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'gr-busy', [0, 1, 2, 3, 4])
      const consumer = await client.subscribe('gr-busy', { group: 'w', from: 'earliest', maxInFlight: 2 })
      const reader = new Reader(consumer)
      const held = await reader.take(2)
      t.same(held.map((m) => m.offset), [0, 1])
      await t.rejects(client.admin.resetGroup('gr-busy', 'w', 'latest'), { codeName: 'GROUP_IN_USE' })
      t.match((await client.admin.resetGroup('gr-busy', 'w', 'latest', { dryRun: true })).partitions, [{ to: 5 }], 'a dry run is allowed')

      const r = await client.admin.resetGroup('gr-busy', 'w', { offset: 3 }, { force: true })
      t.same(r.partitions, [{ partition: 0, from: 0, to: 3 }])
      for (const m of held) m.ack() // stale now: ignored by the broker
      const next = await reader.take(2)
      t.same(next.map((m) => m.offset), [3, 4], 'the member goes on from the new position, its credits back')
      for (const m of next) m.ack()
      await eventually('the group to commit 5', async () => (await client.admin.describeGroup('gr-busy', 'w')).partitions[0]!.committed === 5)
    })
  })
}
