/**
 * Regression (issue 14, item 7): both state files of a group deleted while
 * the broker is down. The group had acked 40 of 100 messages.
 *
 * Before: the group was treated as new and started where its subscriber
 * asked ('latest'): the 60 messages it had not acked were never delivered,
 * and nothing said so. Now the groups manifest says the group existed, so
 * the loss is reported at start (an error naming the group, the partition's
 * recovery line, skiff_recovery_groups_reset_total, describeGroup's
 * `recovery.reset`) and the group restarts at the earliest retained offset:
 * every message is delivered again, the unacked ones included
 * (at-least-once: the acked ones come again too).
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { connect } from '../../clients/index.js'
import { loadGroupState } from '../../broker/storage/group-state.js'
import { groupsDir } from '../../broker/topic-store.js'
import { BrokerRunner, metricValue, tempDir, until } from './harness.js'
import { Reader } from '../e2e/helpers.js'

const TOPIC = 'ledger'
const GROUP = 'books'
const RECORDS = 100

t.test('a group whose state files are both deleted restarts at the earliest offset and says so', async (t) => {
  const dataDir = tempDir(t, 'state-lost')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2', '--group-commit-ms', '50'] })
  t.teardown(() => broker.kill())
  await broker.start()
  let client = await connect(broker.url, { reconnect: false })
  const producer = client.producer()
  for (let i = 0; i < RECORDS; i++) await producer.publish(TOPIC, `m${i}`)
  const reader = new Reader(await client.subscribe(TOPIC, { group: GROUP, from: 'earliest', maxInFlight: RECORDS }))
  const dir = groupsDir(dataDir, TOPIC, 0)
  // Two saves, so both the current and the previous snapshot exist.
  for (const floor of [20, 40]) {
    for (const m of await reader.take(20)) m.ack()
    t.ok(await until(() => loadGroupState(dir, GROUP)?.floor === floor, 10_000), `acks up to ${floor} saved`)
  }
  await broker.kill()
  client.close().catch(() => {})
  for (const file of [`${GROUP}.state`, `${GROUP}.state.prev`]) fs.rmSync(path.join(dir, file))

  await broker.start()
  const lost = broker.runLines.find((l) => l.msg === 'group state lost: redelivering from the earliest retained offset')
  t.match(lost, { level: 'error', topic: TOPIC, partition: 0, group: GROUP, reason: 'missing', restartedAt: 0 }, 'an error names the group and where it restarts')
  const summary = broker.runLines.find((l) => l.msg === 'partition recovered' && l.topic === TOPIC)
  t.match(summary, { level: 'warn', partition: 0, groupsReset: 1, groupsClamped: 0 }, 'the partition recovery line counts the reset')
  t.equal(metricValue((await broker.metrics()) ?? '', 'skiff_recovery_groups_reset_total', { topic: TOPIC }), 1, 'skiff_recovery_groups_reset_total counts it')

  client = await connect(broker.url, { reconnect: false })
  t.teardown(() => client.close())
  const described = await client.admin.describeGroup(TOPIC, GROUP)
  t.match(described.partitions[0], { committed: 0, endOffset: RECORDS, lag: RECORDS, recovery: { reset: { reason: 'missing', restartedAt: 0 } } }, 'describeGroup shows the reset')

  // The subscriber asks for 'latest': a lost group must not take that as its start.
  const again = new Reader(await client.subscribe(TOPIC, { group: GROUP, from: 'latest', maxInFlight: RECORDS }))
  const offsets: number[] = []
  for (let m = await again.next(1500); m; m = await again.next(1500)) {
    offsets.push(m.offset)
    m.ack()
  }
  const unacked = Array.from({ length: RECORDS - 40 }, (_, i) => 40 + i)
  t.same(unacked.filter((o) => !offsets.includes(o)), [], 'every message not acked before is delivered again')
  t.same(offsets, Array.from({ length: RECORDS }, (_, i) => i), 'the whole retained log is redelivered, in order')
})
