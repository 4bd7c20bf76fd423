/**
 * The admin and manage handlers (topics: create, describe, list, delete,
 * purge, alter; groups: list, describe, delete, reset), driven in-process
 * against real partition workers: the OK results, the notice a subscriber of
 * a deleted topic is sent, the refusals as ERROR frames with their stable
 * codes, and FORBIDDEN for a user without the admin permission.
 */
import t from 'tap'
import {
  Op,
  decodeOk,
  encodeGroupDelete,
  encodeGroupList,
  encodeGroupReset,
  encodePublish,
  encodeRecord,
  encodeSubscribe,
  encodeTopicAlter,
  encodeTopicCreate,
  encodeTopicList,
  encodeTopicPurge,
  encodeTopicRef,
  type Frame,
} from '../../../protocol/index.js'
import { errorOf, testGateway, type TestConnection } from './harness.js'

const ADMIN = 'admin-token-0123456789abcdef'
const APP = 'app-token-0123456789abcdef'

/** The answer to `frame`: its OK or ERROR, skipping any delivery that comes first. */
async function answer(c: TestConnection, frame: Buffer): Promise<Frame> {
  const from = c.frames.length
  c.receive(frame)
  const f = await c.next(from, 5000, (x) => x.opcode === Op.OK || x.opcode === Op.ERROR)
  if (!f) throw new Error('no answer')
  return f
}

const result = async (c: TestConnection, frame: Buffer) => {
  const f = await answer(c, frame)
  if (f.opcode !== Op.OK) throw new Error(`refused: ${errorOf(f).name} ${errorOf(f).message}`)
  return decodeOk(f.body).result
}

async function publish(c: TestConnection, topic: string, n: number): Promise<void> {
  const records = Buffer.concat(Array.from({ length: n }, (_, i) => encodeRecord({ key: `k${i}`, payload: Buffer.from(`m${i}`) })))
  const f = await c.exchange(encodePublish({ corr: 900, topic, count: n, records, confirm: true }))
  if (f.opcode !== Op.PUBLISH_ACK) throw new Error(`publish refused: ${errorOf(f).message}`)
}

const subscribeFrame = (sub: number, topic: string, group: string) => encodeSubscribe({ corr: 800 + sub, sub, topic, group, start: 'earliest', maxInFlight: 100 })

t.test('topics: create, list, describe, delete (which ends its subscriptions)', async (t) => {
  const gw = await testGateway(t)
  const admin = await gw.login()
  const created = await result(admin, encodeTopicCreate({ corr: 1, topic: 'orders', partitions: 2 }))
  t.match(created, { topic: 'orders', partitions: 2, partitionInfo: [{ partition: 0, endOffset: 0 }, { partition: 1, endOffset: 0 }] }, 'TOPIC_CREATE answers with the description')
  t.same(await result(admin, encodeTopicList(2)), [{ topic: 'orders', partitions: 2 }], 'TOPIC_LIST')
  t.match(errorOf(await answer(admin, encodeTopicRef(Op.TOPIC_DESCRIBE, { corr: 3, topic: 'nope' }))), { name: 'UNKNOWN_TOPIC', corr: 3 }, 'describing a topic that does not exist')
  t.match(errorOf(await answer(admin, encodeTopicCreate({ corr: 4, topic: 'bad name' }))), { name: 'INVALID_REQUEST', corr: 4 }, 'creating a malformed name')

  const reader = await gw.login()
  await publish(admin, 'orders', 4)
  await result(reader, subscribeFrame(1, 'orders', 'billing'))
  t.same(await result(admin, encodeGroupList({ corr: 5 })), [{ topic: 'orders', group: 'billing' }], 'GROUP_LIST names the group')

  const from = reader.frames.length
  t.same(await result(admin, encodeTopicRef(Op.TOPIC_DELETE, { corr: 6, topic: 'orders' })), { topic: 'orders' }, 'TOPIC_DELETE')
  const notice = await reader.next(from, 5000, (f) => f.opcode === Op.ERROR)
  t.match(errorOf(notice!), { name: 'UNKNOWN_TOPIC', corr: undefined, details: { sub: 1, topic: 'orders' } }, "the subscriber is told its subscription ended")
  t.equal(reader.subs.size, 0, 'and no longer holds it')
  t.same(await result(admin, encodeTopicList(7)), [], 'the topic is gone')
})

t.test('manage: purge, alter, group delete and reset', async (t) => {
  const gw = await testGateway(t)
  const admin = await gw.login()
  await publish(admin, 'events', 3)
  t.match(await result(admin, encodeTopicPurge({ corr: 1, topic: 'events' })), { topic: 'events' }, 'TOPIC_PURGE')
  t.match(await result(admin, encodeTopicRef(Op.TOPIC_DESCRIBE, { corr: 2, topic: 'events' })), { partitionInfo: [{ startOffset: 3, endOffset: 3 }] }, 'every record is gone, offsets go on')

  t.match(errorOf(await answer(admin, encodeTopicAlter({ corr: 3, topic: 'events' }))), { name: 'INVALID_REQUEST', corr: 3 }, 'TOPIC_ALTER that names nothing')
  t.match(await result(admin, encodeTopicAlter({ corr: 4, topic: 'events', partitions: 3 })), { topic: 'events', partitions: 3 }, 'TOPIC_ALTER adds partitions')
  t.match(errorOf(await answer(admin, encodeTopicAlter({ corr: 5, topic: 'events', partitions: 2 }))), { name: 'INVALID_REQUEST', corr: 5 }, 'partitions are never removed')

  t.match(errorOf(await answer(admin, encodeGroupDelete({ corr: 6, topic: 'events', group: 'nobody' }))), { name: 'UNKNOWN_GROUP', corr: 6 }, 'deleting a group without state')
  const member = await gw.login()
  await result(member, subscribeFrame(1, 'events', 'audit'))
  t.match(errorOf(await answer(admin, encodeGroupDelete({ corr: 7, topic: 'events', group: 'audit' }))), { name: 'GROUP_IN_USE', corr: 7, details: { members: 1 } }, 'a group with members is not deleted without force')
  t.match(await result(admin, encodeGroupReset({ corr: 8, topic: 'events', group: 'audit', to: 'earliest', dryRun: true })), { topic: 'events', group: 'audit', dryRun: true }, 'a dry-run reset is answered')
  t.match(await result(admin, encodeGroupDelete({ corr: 9, topic: 'events', group: 'audit', force: true })), { topic: 'events', group: 'audit', endedSubscriptions: 1 }, 'forced, it is deleted')
  t.equal(member.subs.size, 0, "and the member's subscription ended")
})

t.test('a user without admin gets FORBIDDEN from every admin change', async (t) => {
  const gw = await testGateway(t, {
    users: [
      { name: 'ops', token: ADMIN, admin: true, publish: ['>'], subscribe: ['>'] },
      { name: 'app', token: APP, publish: ['>'], subscribe: ['>'] },
    ],
  })
  const ops = await gw.login('ops', ADMIN)
  const app = await gw.login('app', APP)
  await result(ops, encodeTopicCreate({ corr: 1, topic: 'orders' }))
  await publish(app, 'orders', 2)
  const refusals: [string, Buffer][] = [
    ['TOPIC_CREATE', encodeTopicCreate({ corr: 11, topic: 'more' })],
    ['TOPIC_DELETE', encodeTopicRef(Op.TOPIC_DELETE, { corr: 12, topic: 'orders' })],
    ['TOPIC_PURGE', encodeTopicPurge({ corr: 13, topic: 'orders' })],
    ['TOPIC_ALTER', encodeTopicAlter({ corr: 14, topic: 'orders', partitions: 2 })],
    ['GROUP_DELETE', encodeGroupDelete({ corr: 15, topic: 'orders', group: 'g' })],
    ['GROUP_RESET', encodeGroupReset({ corr: 16, topic: 'orders', group: 'g', to: 'earliest' })],
  ]
  for (const [name, frame] of refusals) {
    t.match(errorOf(await answer(app, frame)), { name: 'FORBIDDEN', message: /user app/ }, `${name}: FORBIDDEN`)
  }
  t.match(await result(app, encodeTopicRef(Op.TOPIC_DESCRIBE, { corr: 17, topic: 'orders' })), { partitions: 1, partitionInfo: [{ endOffset: 2 }] }, 'describing needs only publish or subscribe: nothing changed')
  t.same(await result(app, encodeTopicList(18)), [{ topic: 'orders', partitions: 1 }], 'no topic was created')
})
