/**
 * Regression (issue 14, item 1): a caught-up group whose saved position lies
 * beyond the end of the log as recovery left it. The log loses its tail (here
 * the last segment is cut in the middle of a batch, as a torn write or a
 * power loss under fsync=never leaves it) while the group had acked
 * everything; at restart the log ends before the group's position.
 *
 * Before: the group received 0 of 20 new messages (they took offsets the
 * group had saved as acked) and describeGroup said committed 100, end 80,
 * lag 0. Now the group is clamped to the end at start, says so (a warning
 * naming the group, the saved and recovered ends; the recovery summary line;
 * skiff_recovery_groups_clamped_total; describeGroup's `recovery`), and gets
 * all 20.
 */
import t from 'tap'
import fs from 'node:fs'
import { connect, type Consumer } from '../../clients/index.js'
import { loadGroupState } from '../../broker/storage/group-state.js'
import { groupsDir } from '../../broker/topic-store.js'
import { BrokerRunner, metricValue, tempDir, timeout, until } from './harness.js'
import { batchesOf, segmentsOf, truncateAt } from './damage.js'

const TOPIC = 'ledger'
const GROUP = 'books'
const RECORDS = 100
const KEPT = 80
const NEW = 20

/** Messages delivered until none comes for `quietMs` (each acked). */
async function drain(consumer: Consumer, quietMs: number): Promise<string[]> {
  const out: string[] = []
  for (;;) {
    const next = await Promise.race([consumer.next(), timeout(quietMs).then(() => undefined)])
    if (!next || next.done) return out
    out.push(next.value.payload.toString())
    next.value.ack()
  }
}

t.test('a group saved past the recovered end of the log is clamped to it and gets new messages', async (t) => {
  const dataDir = tempDir(t, 'past-end')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2', '--group-commit-ms', '50'] })
  t.teardown(() => broker.kill())
  await broker.start(['--fsync', 'never'])
  let client = await connect(broker.url, { reconnect: false })
  const producer = client.producer()
  for (let i = 0; i < RECORDS; i++) await producer.publish(TOPIC, `old-${i}`)
  const consumer = await client.subscribe(TOPIC, { group: GROUP, from: 'earliest', maxInFlight: RECORDS })
  t.equal((await drain(consumer, 500)).length, RECORDS, 'the group read and acked everything')
  t.ok(await until(() => loadGroupState(groupsDir(dataDir, TOPIC, 0), GROUP)?.floor === RECORDS, 10_000), 'its position (100) is saved')
  await client.close()
  await broker.kill()

  // The log loses its tail: the segment ends inside the batch of offset KEPT (one record per batch).
  const [segment] = segmentsOf(dataDir, TOPIC)
  const batches = batchesOf(segment!)
  t.equal(batches.length, RECORDS, 'one batch per record')
  truncateAt(segment!, batches[KEPT]!.position + 7)
  t.ok(fs.statSync(segment!).size < batches.at(-1)!.position, 'the last batches are gone')

  await broker.start()
  const clamped = broker.runLines.find((l) => l.msg === 'group position beyond the end of the log: clamped to the end')
  t.match(clamped, { level: 'warn', topic: TOPIC, partition: 0, group: GROUP, savedNext: RECORDS, endOffset: KEPT }, 'a warning names the group, its saved position and the recovered end')
  const summary = broker.runLines.find((l) => l.msg === 'partition recovered' && l.topic === TOPIC)
  t.match(summary, { level: 'warn', partition: 0, groupsClamped: 1, groupsReset: 0, endOffset: KEPT }, 'the partition recovery line counts the clamped group')

  client = await connect(broker.url, { reconnect: false })
  t.teardown(() => client.close())
  const described = await client.admin.describeGroup(TOPIC, GROUP)
  t.match(described.partitions[0], { committed: KEPT, next: KEPT, endOffset: KEPT, lag: 0, recovery: { clamped: { savedNext: RECORDS, endOffset: KEPT } } }, 'describeGroup shows the clamp')
  const metrics = await broker.metrics()
  t.equal(metricValue(metrics ?? '', 'skiff_recovery_groups_clamped_total', { topic: TOPIC }), 1, 'skiff_recovery_groups_clamped_total counts it')

  const writer = client.producer()
  for (let i = 0; i < NEW; i++) await writer.publish(TOPIC, `new-${i}`)
  const again = await client.subscribe(TOPIC, { group: GROUP, from: 'latest', maxInFlight: 100 })
  const got = await drain(again, 1500)
  t.same(got, Array.from({ length: NEW }, (_, i) => `new-${i}`), `the group receives all ${NEW} new messages, in order`)
  t.match((await client.admin.describeGroup(TOPIC, GROUP)).partitions[0], { committed: KEPT + NEW, endOffset: KEPT + NEW, lag: 0 }, 'and its position follows the log again')
})
