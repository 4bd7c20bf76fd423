/**
 * Replication between two partition workers driven in-process: a leader and
 * a follower, each a PartitionWorker on its own temp data dir, wired by the
 * test the way the gateway and the replica fetcher wire them ('role',
 * 'replFetch' on the leader, its answer handed to 'replAppend' on the
 * follower, whose answered end offset is the fetchOffset of its next
 * fetch). Every op and every answer goes through the real thread codec.
 * What a user relies on: a confirm only once the in-sync follower has the
 * batch, consumers only below the high watermark, NOT_ENOUGH_REPLICAS below
 * minInSync, a diverging follower cut back by leader epoch, stale epochs
 * fenced both ways (NOT_LEADER for a fetch in another epoch), a new leader that does not store a resend twice and
 * resumes each consumer group where the old leader left it.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PartitionWorker } from '../../broker/worker/partition-worker.js'
import type { FromWorker, ToWorker, TopicConfig, WorkerData } from '../../broker/thread-messages.js'
import { ThreadCodec } from '../../broker/thread-codec.js'
import { writeTopicConfig } from '../../broker/topic-store.js'
import { decodeRecord, encodeRecord, encodeReplData, FrameDecoder, REPL_DATA_BYTES, replDataFrameLimit } from '../../protocol/index.js'
import { ownerOf } from '../../broker/routing.js'
import { unpack } from '../../protocol/codec.js'
import { fitFrame } from '../../broker/gateway/handlers/replication.js'
import type { FetchAnswer } from '../../broker/worker/replication.js'
import { all, Broker, brokers, catchUp, CONFIG, newId, round, TOPIC, type FollowerPosition } from './replica-workers.js'

t.test('a confirm waits for the in-sync follower to fetch past the batch; consumers get nothing above the high watermark', async (t) => {
  const [leader, follower] = brokers(t, 1, 2)
  await leader!.role('leader', 1, [1, 2], 2)
  await follower!.role('follower', 1, [1, 2], 2)
  let pos = await follower!.learn(1)
  t.strictSame(pos, { endOffset: 0, lastEpoch: -1, startOffset: 0 }, 'an empty follower starts at 0 with no epoch')

  await leader!.subscribe('g')
  const pub = await leader!.publish(['a', 'b', 'c'])
  t.equal(leader!.reply(pub), undefined, 'not confirmed on the leader\'s own fsync')
  t.equal(leader!.log.endOffset, 3, 'but stored')
  t.strictSame(leader!.deliveries(), [], 'and not delivered')

  const first = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: 0 })
  t.equal(first.answer!.hw, 0, 'the first fetch acknowledges nothing: HW 0')
  t.ok(first.answer!.batches.length > 0, 'and carries the batch')
  t.equal(leader!.reply(pub), undefined, 'still not confirmed while the follower has not acknowledged it')
  const appended = await follower!.append(1, first.answer!)
  t.strictSame(appended, { t: 'done', id: (appended as { id: number }).id, result: { endOffset: 3, lastEpoch: 1, startOffset: 0 } }, 'the follower answers its new end after its sync')
  t.equal(leader!.reply(pub), undefined, 'the follower\'s append alone tells the leader nothing')
  t.strictSame(leader!.deliveries(), [])
  pos = (appended as { result: FollowerPosition }).result

  const second = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: pos.endOffset, lastFetchedEpoch: pos.lastEpoch })
  t.strictSame(leader!.reply(pub), { t: 'done', id: pub, result: 0 }, 'the next fetch from 3 acknowledges it: confirmed with its offset')
  t.equal(second.answer!.hw, 3, 'the answer carries the new HW')
  t.strictSame(leader!.deliveries().map((d) => d[0]), [0, 1, 2], 'and the consumer gets the records')
  t.ok(all(follower!.log).equals(all(leader!.log)), 'the follower\'s log is the leader\'s byte for byte')

  // Two publishes, the follower acknowledging only the first: the HW is the smaller of the two ends.
  const p1 = await leader!.publish(['d'])
  const p2 = await leader!.publish(['e', 'f'])
  await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: 4, lastFetchedEpoch: 1 })
  t.strictSame(leader!.reply(p1), { t: 'done', id: p1, result: 3 }, 'an ack of 4 confirms the batch ending at 4')
  t.equal(leader!.reply(p2), undefined, 'not the one after it')
  t.strictSame(leader!.deliveries().map((d) => d[0]), [0, 1, 2, 3], 'the consumer gets offset 3, not 4 and 5')
  const check = async (follower: number) => {
    const id = newId()
    await leader!.turn({ t: 'isrCheck', id, topic: TOPIC, partition: 0, follower })
    return (leader!.reply(id) as { result: boolean }).result
  }
  t.equal(await check(2), true, 'isrCheck: follower 2 is at the HW')
  t.equal(await check(3), false, 'isrCheck: a broker that never fetched is not')
  pos = await catchUp(leader!, follower!, 1, pos)
  t.strictSame(leader!.reply(p2), { t: 'done', id: p2, result: 4 })
  t.strictSame(leader!.deliveries().map((d) => d[0]), [0, 1, 2, 3, 4, 5])
  t.strictSame(pos, { endOffset: 6, lastEpoch: 1, startOffset: 0 })
  t.ok(all(follower!.log).equals(all(leader!.log)))
})

t.test('the caught-up rule: a follower is caught up when its fetch reaches the leader end its previous answer saw', async (t) => {
  const [leader, follower] = brokers(t, 1, 2)
  await leader!.role('leader', 1, [1], 1)
  await follower!.role('follower', 1, [1], 1)
  await leader!.publish(['a', 'b'])
  const a1 = (await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: 0 })).answer!
  t.equal(a1.caughtUp, false, 'behind the leader end at its first fetch')
  const pos = ((await follower!.append(1, a1)) as { result: FollowerPosition }).result
  await leader!.publish(['c']) // the leader moves on meanwhile
  const a2 = (await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: pos.endOffset, lastFetchedEpoch: 1 })).answer!
  t.equal(a2.caughtUp, true, 'reaching the end of the previous answer (2) counts, though the leader is at 3 now')
  t.equal(a2.leaderEnd, 3)
})

t.test('below minInSync: waiting confirms fail NOT_ENOUGH_REPLICAS, publishes are refused and store nothing, reads below the HW go on', async (t) => {
  const [leader, follower] = brokers(t, 1, 2)
  await leader!.role('leader', 1, [1, 2], 2)
  await follower!.role('follower', 1, [1, 2], 2)
  let pos = await follower!.learn(1)
  const first = await leader!.publish(['a', 'b'])
  pos = await catchUp(leader!, follower!, 1, pos)
  t.match(leader!.reply(first), { t: 'done', result: 0 })
  const waiting = await leader!.publish(['c'])
  t.equal(leader!.reply(waiting), undefined)

  await leader!.role('leader', 1, [1], 2) // the follower was shrunk out
  t.match(leader!.reply(waiting), { t: 'fail', code: 'NOT_ENOUGH_REPLICAS' }, 'the confirm waiting fails')
  const end = leader!.log.endOffset
  const refused = await leader!.publish(['d'])
  t.match(leader!.reply(refused), { t: 'fail', code: 'NOT_ENOUGH_REPLICAS', message: /1 in-sync replica\(s\), fewer than its minInSync 2/ }, 'a new publish is refused')
  t.equal(leader!.log.endOffset, end, 'and nothing was stored')
  await leader!.subscribe('g')
  t.strictSame(leader!.deliveries().map((d) => d[0]), [0, 1], 'a consumer still reads what is below the HW, not the unconfirmed record at 2')

  await leader!.role('leader', 1, [1, 2], 2) // back in
  const again = await leader!.publish(['e'])
  t.equal(leader!.reply(again), undefined, 'publishes are taken again, waiting for the follower')
  pos = await catchUp(leader!, follower!, 1, pos)
  t.match(leader!.reply(again), { t: 'done', result: 3 })
  t.strictSame(leader!.deliveries().map((d) => d[0]), [0, 1, 2, 3])
})

t.test('a follower with an extra tail of an older epoch is told divergingEpoch and truncates where that epoch ended on the leader (KIP-101)', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  // Epoch 1: broker 1 leads, writes 0-9, broker 2 copies them.
  await a!.role('leader', 1, [1, 2], 1)
  await b!.role('follower', 1, [1, 2], 1)
  let pos = await b!.learn(1)
  for (let i = 0; i < 5; i++) await a!.publish([`e1-${2 * i}`, `e1-${2 * i + 1}`])
  pos = await catchUp(a!, b!, 1, pos)
  t.strictSame(pos, { endOffset: 10, lastEpoch: 1, startOffset: 0 })
  // Epoch 2: broker 2 leads alone and writes 10-14, which nobody copies.
  await b!.role('leader', 2, [2], 1)
  await b!.publish(['e2-10', 'e2-11', 'e2-12'])
  await b!.publish(['e2-13', 'e2-14'])
  // Epoch 3: broker 1 leads again (it never saw epoch 2) and writes 10-12.
  await a!.role('leader', 3, [1, 2], 1)
  await a!.publish(['e3-10', 'e3-11'])
  await a!.publish(['e3-12'])
  t.strictSame(a!.log.leaderEpochs.list(), [{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 10 }], 'leader epochs [1@0, 3@10]')
  t.strictSame(b!.log.leaderEpochs.list(), [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 10 }], 'follower epochs [1@0, 2@10]')

  await b!.role('follower', 3, [1, 2], 1)
  pos = await b!.learn(3)
  t.strictSame(pos, { endOffset: 15, lastEpoch: 2, startOffset: 0 })
  const { answer } = await a!.fetch(2, { leaderEpoch: 3, fetchOffset: 15, lastFetchedEpoch: 2 })
  t.strictSame(answer!.divergingEpoch, { epoch: 1, endOffset: 10 }, 'the leader says: your epoch 2 is mine 1, ending at 10')
  t.equal(answer!.batches.length, 0, 'with no batches')
  t.equal(a!.worker.ctx.existing(TOPIC, 0)!.replica!.ackedBy(2), undefined, 'and a diverging fetch acknowledges nothing')
  const r = await b!.append(3, answer!)
  t.match(r, { t: 'done', result: { endOffset: 10, lastEpoch: 1, startOffset: 0 } }, 'the follower cut its tail at 10')
  t.strictSame(b!.log.leaderEpochs.list(), [{ epoch: 1, startOffset: 0 }], 'and its epoch 2')
  pos = await catchUp(a!, b!, 3, (r as { result: FollowerPosition }).result)
  t.strictSame(pos, { endOffset: 13, lastEpoch: 3, startOffset: 0 })
  t.ok(all(b!.log).equals(all(a!.log)), 'then copies the leader: byte for byte')
  t.strictSame(b!.log.leaderEpochs.list(), a!.log.leaderEpochs.list())
  t.strictSame(b!.log.read(10, 10, 1 << 20).map((x) => decodeRecord(x.record).payload.toString()), ['e3-10', 'e3-11', 'e3-12'], 'epoch 2\'s records are gone')

  // A follower whose fetch offset is past the leader's end (and names no epoch) is told the leader's end.
  const past = (await a!.fetch(2, { leaderEpoch: 3, fetchOffset: 20 })).answer!
  t.strictSame(past.divergingEpoch, { epoch: 3, endOffset: 13 })
})

t.test('the follower cuts at its own end of the epoch the leader names when that comes sooner (KIP-279), then copies the rest', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 1)
  await b!.role('follower', 1, [1, 2], 1)
  let pos = await b!.learn(1)
  for (let i = 0; i < 5; i++) await a!.publish([`e1-${i}`])
  pos = await catchUp(a!, b!, 1, pos) // broker 2 has 0-4 of epoch 1
  for (let i = 5; i < 10; i++) await a!.publish([`e1-${i}`]) // broker 1 goes on to 9, not copied
  await b!.role('leader', 2, [2], 1)
  await b!.publish(['e2-5', 'e2-6', 'e2-7'])
  await a!.role('leader', 4, [1, 2], 1)
  await a!.publish(['e4-10', 'e4-11'])
  await b!.role('follower', 4, [1, 2], 1)
  pos = await b!.learn(4)
  t.strictSame(pos, { endOffset: 8, lastEpoch: 2, startOffset: 0 })
  const { answer } = await a!.fetch(2, { leaderEpoch: 4, fetchOffset: 8, lastFetchedEpoch: 2 })
  t.strictSame(answer!.divergingEpoch, { epoch: 1, endOffset: 10 }, 'the leader\'s epoch 1 ends at 10')
  t.match(await b!.append(4, answer!), { t: 'done', result: { endOffset: 5, lastEpoch: 1, startOffset: 0 } }, 'but the follower\'s ends at 5: it cuts there, not at 10')
  pos = await catchUp(a!, b!, 4, { endOffset: 5, lastEpoch: 1, startOffset: 0 })
  t.strictSame(pos, { endOffset: 12, lastEpoch: 4, startOffset: 0 })
  t.ok(all(b!.log).equals(all(a!.log)), 'then it holds the leader\'s log byte for byte')
  t.strictSame(b!.log.read(0, 100, 1 << 20).map((x) => decodeRecord(x.record).payload.toString()), [...Array.from({ length: 10 }, (_, i) => `e1-${i}`), 'e4-10', 'e4-11'])
})

t.test('a follower restarted mid-copy learns its position from its log and goes on where it was', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 2)
  await b!.role('follower', 1, [1, 2], 2)
  let pos = await b!.learn(1)
  const first = await a!.publish(['a', 'b', 'c'])
  pos = await catchUp(a!, b!, 1, pos)
  t.match(a!.reply(first), { t: 'done', result: 0 })
  const second = await a!.publish(['d', 'e'])
  await b!.worker.stop()
  const restarted = new Broker(2, b!.dir)
  await restarted.role('follower', 1, [1, 2], 2)
  pos = await restarted.learn(1)
  t.strictSame(pos, { endOffset: 3, lastEpoch: 1, startOffset: 0 }, 'its end and epoch, from its files')
  t.equal(a!.reply(second), undefined)
  pos = await catchUp(a!, restarted, 1, pos)
  t.match(a!.reply(second), { t: 'done', result: 3 }, 'the next publish is confirmed once the restarted follower has it')
  t.ok(all(restarted.log).equals(all(a!.log)))
  await restarted.worker.stop() // before the data dir is removed
})

t.test('a follower that led an epoch without writing in it follows the next leader (its empty epoch is dropped, no endless divergence)', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 1)
  await b!.role('follower', 1, [1, 2], 1)
  let pos = await b!.learn(1)
  for (let i = 0; i < 5; i++) await a!.publish([`e1-${2 * i}`, `e1-${2 * i + 1}`])
  pos = await catchUp(a!, b!, 1, pos)
  // Broker 2 is elected in epoch 2 and loses it before any publish reaches it.
  await b!.role('leader', 2, [2], 1)
  await a!.role('leader', 3, [1, 2], 1)
  await a!.publish(['e3-10', 'e3-11'])
  await b!.role('follower', 3, [1, 2], 1)
  pos = await b!.learn(3)
  t.strictSame(pos, { endOffset: 10, lastEpoch: 2, startOffset: 0 }, 'it reports epoch 2, recorded when it became leader')
  let rounds = 0
  let diverged = 0
  for (; rounds < 10 && pos.endOffset < a!.log.endOffset; rounds++) {
    const r = await round(a!, b!, 3, pos)
    if (r.answer.divergingEpoch) diverged++
    pos = r.pos
  }
  t.equal(diverged, 1, 'told once that its epoch 2 diverges')
  t.strictSame(pos, { endOffset: 12, lastEpoch: 3, startOffset: 0 }, `caught up in ${rounds} rounds`)
  t.strictSame(b!.log.leaderEpochs.list(), a!.log.leaderEpochs.list(), 'with the leader\'s epochs')
  t.ok(all(b!.log).equals(all(a!.log)), 'and its log')
})

t.test('a leader deposed with confirms waiting answers them NOT_LEADER; a follower takes no publish and delivers nothing', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 2)
  await b!.role('follower', 1, [1, 2], 2)
  const pos = await b!.learn(1)
  await a!.subscribe('g')
  const waiting = await a!.publish(['w'], { producerId: 5, sequence: 0 })
  t.equal((await round(a!, b!, 1, pos)).pos.endOffset, 1, 'copied, but the leader is deposed before a fetch acknowledges it')
  await a!.role('follower', 2, [1, 2], 2)
  t.match(a!.reply(waiting), { t: 'fail', code: 'NOT_LEADER', message: /resend it with the same sequence/ }, 'the waiting confirm')
  const refused = await a!.publish(['x'])
  t.match(a!.reply(refused), { t: 'fail', code: 'NOT_LEADER' }, 'a publish to the follower it became')
  t.equal(a!.log.endOffset, 1, 'stored nothing')
  await a!.subscribe('h', 2, 8)
  t.strictSame(a!.deliveries(), [], 'and no consumer was handed the unconfirmed record, before or after')
  // The new leader confirms the producer's resend with the offset the batch already has.
  await b!.role('leader', 2, [2], 1)
  const resend = await b!.publish(['w'], { producerId: 5, sequence: 0 })
  t.strictSame(b!.reply(resend), { t: 'done', id: resend, result: 0 })
  t.equal(b!.log.endOffset, 1)
})

t.test('a leader re-elected in a new epoch keeps its waiting confirms and gives them once the follower acknowledges in the new epoch', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 2)
  await b!.role('follower', 1, [1, 2], 2)
  let pos = await b!.learn(1)
  const waiting = await a!.publish(['w0', 'w1'])
  await a!.role('leader', 2, [1, 2], 2)
  t.equal(a!.reply(waiting), undefined, 'not answered yet: not replicated')
  await b!.role('follower', 2, [1, 2], 2)
  pos = await catchUp(a!, b!, 2, pos)
  t.strictSame(a!.reply(waiting), { t: 'done', id: waiting, result: 0 }, 'confirmed once the follower acknowledged it in epoch 2')
  t.strictSame(pos, { endOffset: 2, lastEpoch: 1, startOffset: 0 }, 'the batch is of epoch 1, when it was written')
})

t.test('stale epochs are fenced: a fetch in another epoch than the leader\'s is refused NOT_LEADER and counts nothing, an append of an older epoch is refused', async (t) => {
  const [leader, follower] = brokers(t, 1, 2)
  await leader!.role('leader', 3, [1, 2], 1)
  await follower!.role('follower', 3, [1, 2], 1)
  let pos = await follower!.learn(3)
  await leader!.publish(['a'])
  const stale = (await leader!.fetch(2, { leaderEpoch: 2, fetchOffset: 0 })).answer!
  t.equal(stale.error, 'NOT_LEADER', 'a follower behind on etcd is told this broker does not lead in its epoch')
  t.equal(stale.batches.length, 0, 'with no data')
  t.equal(leader!.worker.ctx.existing(TOPIC, 0)!.replica!.ackedBy(2), undefined, 'and no acknowledgement counted')
  const ahead = (await leader!.fetch(2, { leaderEpoch: 4, fetchOffset: 1, lastFetchedEpoch: 3 })).answer!
  t.equal(ahead.error, 'NOT_LEADER', 'a newer epoch than the leader knows: this broker is the one behind')
  t.equal(leader!.worker.ctx.existing(TOPIC, 0)!.replica!.ackedBy(2), undefined, 'nor is that fetch\'s offset counted')
  t.equal((await follower!.fetch(1, { leaderEpoch: 3, fetchOffset: 0 })).answer!.error, 'NOT_LEADER', 'a fetch from a follower')

  const good = (await leader!.fetch(2, { leaderEpoch: 3, fetchOffset: 0 })).answer!
  const old = await follower!.append(2, good)
  t.match(old, { t: 'fail', code: 'INVALID_REQUEST', message: /epoch 2 .* follows epoch 3/ }, 'data fetched in epoch 2 is refused by a follower of epoch 3')
  t.equal(follower!.log.endOffset, 0, 'and nothing of it was appended')
  t.match(await leader!.append(3, good), { t: 'fail', code: 'NOT_LEADER' }, 'a leader appends no one\'s data')
  pos = await catchUp(leader!, follower!, 3, pos)
  t.equal(pos.endOffset, 1, 'the same data in the current epoch is taken')
})

/**
 * A leader (broker 1) and a follower (broker 2) in epoch 1, and the follower's first two fetches
 * with a 5 s maxWait: the first is answered at once, the second is held (its answer is checked by
 * the caller).
 */
async function withHeldFetch(t: Parameters<typeof brokers>[0]) {
  const [leader, follower] = brokers(t, 1, 2)
  await leader!.role('leader', 1, [1, 2], 1)
  await follower!.role('follower', 1, [1, 2], 1)
  const first = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: 0 }, 5000)
  const held = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: 0 }, 5000)
  return { leader: leader!, follower: follower!, first, held }
}

t.test('held fetches: answered in the turn that appends, on replWake, or when maxWaitMs passes', async (t) => {
  const { leader, follower, first, held } = await withHeldFetch(t)
  // A follower's first fetch in an epoch carries the partition's group state, even an empty one (so a
  // follower that was away drops the groups deleted meanwhile): it is answered at once.
  t.same(first.answer?.groups && unpack(Buffer.from(first.answer.groups)), [], 'the first fetch is answered at once, with the group state: no group')
  t.equal(held.answer, undefined, 'nothing new: held')
  await leader!.publish(['a'])
  const got = leader!.fetchAnswer(held.id)
  t.ok(got && got.batches.length > 0, 'answered with the batch in the turn that appended it')
  const pos = ((await follower!.append(1, got!)) as { result: FollowerPosition }).result

  const idle = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: pos.endOffset, lastFetchedEpoch: 1 }, 500)
  t.equal(idle.answer, undefined)
  leader!.clock.now += 400
  leader!.worker.tickAcks()
  leader!.worker.endTurn()
  t.equal(leader!.fetchAnswer(idle.id), undefined, 'not before maxWaitMs')
  leader!.clock.now += 200
  leader!.worker.tickAcks()
  leader!.worker.endTurn()
  t.match(leader!.fetchAnswer(idle.id), { hw: 1, leaderEnd: 1 }, 'answered empty once it passed, with the HW its acknowledgement moved')
  t.equal(leader!.fetchAnswer(idle.id)!.batches.length, 0)

  const woken = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: 1, lastFetchedEpoch: 1 }, 5000)
  t.equal(woken.answer, undefined)
  await leader!.turn({ t: 'replWake', session: woken.id })
  t.match(leader!.fetchAnswer(woken.id), { hw: 1 }, 'answered on replWake')
})

t.test('a new group goes to the followers at once: a held fetch is answered in the turn the group is made, carrying it', async (t) => {
  const { leader, follower, first, held } = await withHeldFetch(t)
  t.same(first.answer?.groups && unpack(Buffer.from(first.answer.groups)), [], 'the term\'s first answer: no group yet')
  t.equal(held.answer, undefined, 'nothing new: held')
  await leader!.subscribe('fresh')
  const got = leader!.fetchAnswer(held.id)
  t.ok(got, 'answered in the turn the group was made, not at maxWaitMs (5 s) nor GROUPS_EVERY_MS later')
  const groups = got?.groups ? (unpack(Buffer.from(got.groups)) as [string, unknown][]) : []
  t.same(groups.map(([g]) => g), ['fresh'], 'carrying the new group')
  t.match(await follower!.append(1, got!), { t: 'done' })
  const id = newId()
  await follower!.turn({ t: 'group', id, topic: TOPIC, partition: 0, group: 'fresh' })
  t.match(follower!.reply(id), { t: 'done', result: { committed: 0, members: 0 } }, 'the follower has it (an unknown group is described as null): a leader lost now leaves the group to the next one')
})

t.test('a follower made leader rebuilds the dedup window: a resend of a replicated idempotent batch is confirmed with its offset, not stored twice', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 2)
  await b!.role('follower', 1, [1, 2], 2)
  let pos = await b!.learn(1)
  await a!.publish(['x0', 'x1'])
  const sent = await a!.publish(['p0', 'p1', 'p2'], { producerId: 77, sequence: 0 })
  pos = await catchUp(a!, b!, 1, pos)
  t.match(a!.reply(sent), { t: 'done', result: 2 })

  // The leader dies; broker 2 takes over in epoch 2 and the producer resends what it has not seen confirmed.
  await b!.role('leader', 2, [2], 1)
  const end = b!.log.endOffset
  const resend = await b!.publish(['p0', 'p1', 'p2'], { producerId: 77, sequence: 0 })
  t.strictSame(b!.reply(resend), { t: 'done', id: resend, result: 2 }, 'confirmed with the offset the old leader gave it')
  t.equal(b!.log.endOffset, end, 'not stored again')
  const next = await b!.publish(['p3'], { producerId: 77, sequence: 3 })
  t.strictSame(b!.reply(next), { t: 'done', id: next, result: 5 }, 'the next sequence is stored after it')
  t.strictSame(b!.log.read(0, 100, 1 << 20).map((r) => decodeRecord(r.record).payload.toString()), ['x0', 'x1', 'p0', 'p1', 'p2', 'p3'])
})

t.test('a resend while the original still waits for the HW is stored once, and both confirms come with the follower\'s acknowledgement', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 2)
  await b!.role('follower', 1, [1, 2], 2)
  const pos = await b!.learn(1)
  const original = await a!.publish(['r0', 'r1'], { producerId: 9, sequence: 0 })
  const resend = await a!.publish(['r0', 'r1'], { producerId: 9, sequence: 0 })
  t.equal(a!.log.endOffset, 2, 'stored once')
  t.equal(a!.reply(original), undefined)
  t.equal(a!.reply(resend), undefined, 'the resend waits for the HW too: the batch is not replicated yet')
  await catchUp(a!, b!, 1, pos)
  t.strictSame([a!.reply(original), a!.reply(resend)], [{ t: 'done', id: original, result: 0 }, { t: 'done', id: resend, result: 0 }])
  t.equal(b!.log.endOffset, 2, 'and the follower has it once')
})

t.test('group state sent in a fetch answer is taken by the follower, and a new leader resumes the group where the old one left it', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 2)
  await b!.role('follower', 1, [1, 2], 2)
  let pos = await b!.learn(1)
  await a!.publish(['m0', 'm1', 'm2', 'm3', 'm4'])
  pos = await catchUp(a!, b!, 1, pos)
  await a!.subscribe('g')
  t.strictSame(a!.deliveries().map((d) => d[0]), [0, 1, 2, 3, 4])
  await a!.ack('g', 0, 3)
  await a!.ack('g', 4, 1) // 3 stays in flight
  // The group state goes to a follower at most every GROUPS_EVERY_MS (200 ms): the first answer of the term carried none (no group yet).
  await new Promise((r) => setTimeout(r, 250))
  const { answer } = await a!.fetch(2, { leaderEpoch: 1, fetchOffset: pos.endOffset, lastFetchedEpoch: pos.lastEpoch })
  t.ok(answer!.groups && answer!.groups.length > 0, 'the answer carries the group state')
  t.match(await b!.append(1, answer!), { t: 'done' })
  const id = newId()
  await b!.turn({ t: 'group', id, topic: TOPIC, partition: 0, group: 'g' })
  t.match(b!.reply(id), { t: 'done', result: { committed: 3 } }, 'the follower has the group, committed up to 3')

  await b!.role('leader', 2, [2], 1)
  await b!.subscribe('g', 5, 9)
  t.strictSame(b!.deliveries(), [[3, 2, 'm3']], 'the new leader delivers only 3 (4 was acked), as its second delivery')
})

t.test('routine group state does not answer a held fetch early: it rides on the next answer, with records or when the wait ends', async (t) => {
  const [a, b] = brokers(t, 1, 2)
  await a!.role('leader', 1, [1, 2], 2)
  await b!.role('follower', 1, [1, 2], 2)
  let pos = await b!.learn(1)
  await a!.publish(['m0', 'm1', 'm2'])
  await a!.subscribe('g')
  // The new group goes at once (a follower owed the state is answered at once), with the records.
  pos = await catchUp(a!, b!, 1, pos)
  await a!.ack('g', 0, 2)
  await new Promise((r) => setTimeout(r, 250)) // past GROUPS_EVERY_MS: the follower is due the state again

  const held = await a!.fetch(2, { leaderEpoch: 1, fetchOffset: pos.endOffset, lastFetchedEpoch: pos.lastEpoch }, 5000)
  t.equal(held.answer, undefined, 'nothing new but routine group state: the fetch is held, not answered for the state alone')
  await a!.publish(['m3'])
  const got = a!.fetchAnswer(held.id)
  t.ok(got && got.batches.length > 0, 'answered in the turn that appended')
  const groups = got?.groups ? (unpack(Buffer.from(got.groups)) as [string, unknown][]) : []
  t.same(groups.map(([g]) => g), ['g'], 'and the group state due rides on that answer')
  t.match(await b!.append(1, got!), { t: 'done' })
  const id = newId()
  await b!.turn({ t: 'group', id, topic: TOPIC, partition: 0, group: 'g' })
  t.match(b!.reply(id), { t: 'done', result: { committed: 2 } }, 'the follower has the acks made before the held fetch')

  // Idle: the state due goes when the wait ends.
  await a!.ack('g', 2, 1)
  await new Promise((r) => setTimeout(r, 250))
  const end = b!.log.endOffset
  const idle = await a!.fetch(2, { leaderEpoch: 1, fetchOffset: end, lastFetchedEpoch: 1 }, 500)
  t.equal(idle.answer, undefined, 'held')
  a!.clock.now += 600
  a!.worker.tickAcks()
  a!.worker.endTurn()
  const late = a!.fetchAnswer(idle.id)
  t.equal(late?.batches.length, 0, 'answered empty when its wait ended')
  t.ok(late?.groups && late.groups.length > 0, 'carrying the group state due')
  t.match(await b!.append(1, late!), { t: 'done' })
  const id2 = newId()
  await b!.turn({ t: 'group', id: id2, topic: TOPIC, partition: 0, group: 'g' })
  t.match(b!.reply(id2), { t: 'done', result: { committed: 3 } }, 'the follower has the last ack too')
})

t.test('a fetch of several lagging partitions carries at most its maxBytes of batches (besides one whole batch), and the follower still catches up on every partition', async (t) => {
  const config: TopicConfig = { ...CONFIG, topic: 'wide', partitions: 3 }
  const [a, b] = brokers(t, 1, 2)
  for (const x of [a!, b!]) writeTopicConfig(x.dir, config)
  for (let p = 0; p < 3; p++) {
    await a!.turn({ t: 'role', config, partition: p, self: 1, role: 'leader', epoch: 1, isr: [1, 2], minInSync: 1 })
    await b!.turn({ t: 'role', config, partition: p, self: 2, role: 'follower', epoch: 1, isr: [1, 2], minInSync: 1 })
  }
  // 20 batches of about 50 KiB on each partition: 1 MiB each, 3 MiB in all.
  const payload = 'x'.repeat(50 * 1024)
  for (let p = 0; p < 3; p++) {
    for (let i = 0; i < 20; i++) await a!.turn({ t: 'pub', id: newId(), topic: 'wide', partition: p, count: 1, records: encodeRecord({ payload: Buffer.from(`${p}:${i}:${payload}`) }), confirm: false })
  }
  const maxBytes = 256 * 1024
  const pos = [0, 1, 2].map(() => ({ endOffset: 0, lastEpoch: -1, startOffset: 0 }))
  let rounds = 0
  let largest = 0
  while (pos.some((x) => x.endOffset < 20) && rounds < 50) {
    rounds++
    const id = newId()
    await a!.turn({ t: 'replFetch', id, session: id, follower: 2, maxWaitMs: 0, maxBytes, fetch: pos.map((x, p) => ({ topic: 'wide', partition: p, leaderEpoch: 1, fetchOffset: x.endOffset, lastFetchedEpoch: x.lastEpoch >= 0 ? x.lastEpoch : undefined })) })
    const answers = a!.fetchAnswers(id)
    const total = answers.reduce((n, x) => n + x.batches.length, 0)
    largest = Math.max(largest, total)
    if (total > maxBytes + 60 * 1024) t.fail(`round ${rounds}: ${total} bytes of batches for a budget of ${maxBytes}`)
    const frame = encodeReplData({ corr: 1, partitions: answers })
    const decoder = new FrameDecoder(replDataFrameLimit(1024 * 1024))
    decoder.push(frame)
    if (!decoder.next()) t.fail(`round ${rounds}: the follower cannot read the REPL_DATA frame`)
    for (const [p, x] of answers.entries()) {
      const appendId = newId()
      await b!.turn({ t: 'replAppend', id: appendId, topic: 'wide', partition: p, epoch: 1, hw: x.hw, batches: x.batches, diverging: x.divergingEpoch, groups: new Uint8Array(0) })
      pos[p] = (b!.reply(appendId) as { result: FollowerPosition }).result
    }
  }
  t.ok(largest > 0 && largest <= maxBytes + 60 * 1024, `at most ${largest} bytes of batches per answer, for a budget of ${maxBytes}`)
  const stored = [0, 1, 2].reduce((n, p) => n + all(a!.worker.ctx.existing('wide', p)!.log).length, 0)
  t.ok(rounds >= Math.ceil(stored / (maxBytes + 60 * 1024)), `${rounds} fetches for ${stored} bytes`)
  t.strictSame(pos.map((x) => x.endOffset), [20, 20, 20], 'every partition caught up')
  for (let p = 0; p < 3; p++) {
    const la = a!.worker.ctx.existing('wide', p)!.log
    const lb = b!.worker.ctx.existing('wide', p)!.log
    t.ok(all(lb).equals(all(la)), `partition ${p}: the follower's log is the leader's`)
  }
})

t.test('a REPL_DATA answer from several workers, each past its share by a batch nearly maxFrame, is cut to what the follower reads', async (t) => {
  // The leader's gateway splits REPL_DATA_BYTES between the workers a fetch names (gateway/handlers/replication.ts)
  // and sends their answers in one frame: played here with four workers on one data dir.
  const workers = 4
  const maxFrame = 1024 * 1024
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-repl-wide-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const config: TopicConfig = { ...CONFIG, topic: 'big', partitions: 16 }
  writeTopicConfig(dir, config)
  const codec = new ThreadCodec()
  const pool = Array.from({ length: workers }, (_, workerId) => {
    const ops: FromWorker[] = []
    const data: WorkerData = { workerId, workers, dataDir: dir, fsync: 'always', groupCommitMs: 1000, retentionCheckMs: 0, maxFrame }
    const worker = new PartitionWorker({ data, post: (o) => ops.push(...(codec.unpack(codec.pack(o), codec.attachments) as FromWorker[])) })
    worker.start()
    const turn = (...o: ToWorker[]) => {
      worker.handle(codec.unpack(codec.pack(o), codec.attachments) as ToWorker[])
      worker.endTurn()
    }
    return { worker, ops, turn }
  })
  t.teardown(() => Promise.all(pool.map((w) => w.worker.stop())))
  // One partition per worker, each with two batches of one record just under maxFrame (the largest a PUBLISH carries).
  const chosen = new Map<number, number>()
  for (let p = 0; p < config.partitions && chosen.size < workers; p++) if (!chosen.has(ownerOf('big', p, workers))) chosen.set(ownerOf('big', p, workers), p)
  const big = encodeRecord({ payload: Buffer.alloc(maxFrame - 200, 'b') })
  for (const [w, p] of chosen) {
    pool[w]!.turn({ t: 'role', config, partition: p, self: 1, role: 'leader', epoch: 1, isr: [1], minInSync: 1 })
    for (let i = 0; i < 2; i++) pool[w]!.turn({ t: 'pub', id: newId(), topic: 'big', partition: p, count: 1, records: big, confirm: false })
  }
  const answers: FetchAnswer[] = []
  for (const [w, p] of chosen) {
    const id = newId()
    pool[w]!.turn({ t: 'replFetch', id, session: id, follower: 2, maxWaitMs: 0, maxBytes: Math.floor(REPL_DATA_BYTES / workers), fetch: [{ topic: 'big', partition: p, leaderEpoch: 1, fetchOffset: 0 }] })
    const r = pool[w]!.ops.find((o) => o.t === 'done' && o.id === id) as { result: FetchAnswer[] }
    answers.push(...r.result)
  }
  const total = answers.reduce((n, a) => n + a.batches.length, 0)
  t.ok(total > replDataFrameLimit(maxFrame), `the workers answered ${total} bytes of batches together, more than a follower reads in a frame`)
  const partitions = fitFrame(answers, maxFrame)
  const frame = encodeReplData({ corr: 1, partitions })
  const decoder = new FrameDecoder(replDataFrameLimit(maxFrame))
  decoder.push(frame)
  let read = false
  try {
    read = decoder.next() !== null
  } catch (err) {
    t.comment(`the follower refuses it: ${(err as Error).message}`)
  }
  t.ok(read, `the REPL_DATA frame the gateway sends (${frame.length} bytes) is read by a follower whose limit is ${replDataFrameLimit(maxFrame)}`)
  t.ok(partitions[0]!.batches.length > 0, 'the first partition keeps its batches: the follower makes progress')
  t.ok(partitions.some((p) => p.batches.length === 0), 'later ones are left for the next fetch')
  t.strictSame(partitions.map((p) => p.hw), answers.map((a) => a.hw), 'every partition is still answered (its HW, its acknowledgement counted)')
})

t.test('a purge on the leader is answered once every in-sync follower dropped the records; a follower behind starts again at the new start', async (t) => {
  const [leader, f2, f3] = brokers(t, 1, 2, 3)
  await leader!.role('leader', 1, [1, 2, 3], 2)
  await f2!.role('follower', 1, [1, 2, 3], 2)
  await f3!.role('follower', 1, [1, 2, 3], 2)
  let pos2 = await f2!.learn(1)
  let pos3 = await f3!.learn(1)
  await leader!.publish(['a', 'b', 'c'])
  await leader!.publish(['d', 'e'])
  pos2 = await catchUp(leader!, f2!, 1, pos2)
  pos3 = (await round(leader!, f3!, 1, pos3)).pos
  t.equal(pos3.endOffset, 5, 'follower 3 has the records too')

  const purgeOp = async (b: Broker) => {
    const id = newId()
    await b.turn({ t: 'purge', id, topic: TOPIC, partition: 0 })
    return id
  }
  const refused = await purgeOp(f2!)
  t.match(f2!.reply(refused), { t: 'fail', code: 'NOT_LEADER' }, 'a follower does not purge its copy on request')
  t.equal(f2!.log.startOffset, 0)

  const purge = await purgeOp(leader!)
  t.equal(leader!.log.startOffset, 5, 'the leader dropped its records at once')
  t.equal(leader!.reply(purge), undefined, 'but answers only once its in-sync followers have too')

  const r2 = await round(leader!, f2!, 1, pos2)
  t.equal(r2.answer.logStart, 5, "the next answer to a follower carries the leader's start")
  pos2 = r2.pos
  t.strictSame(pos2, { endOffset: 5, lastEpoch: 1, startOffset: 5 }, 'follower 2 dropped everything and starts at 5')
  t.equal(leader!.reply(purge), undefined, 'follower 3 has not fetched yet')
  // Follower 3 fetches from where it was, at the old end: its records go too.
  const r3 = await round(leader!, f3!, 1, pos3)
  pos3 = r3.pos
  t.equal(pos3.startOffset, 5)
  t.equal(leader!.reply(purge), undefined, 'acknowledged by the next fetch of each, which says where its log starts')
  await round(leader!, f2!, 1, pos2)
  t.equal(leader!.reply(purge), undefined)
  await round(leader!, f3!, 1, pos3)
  t.match(leader!.reply(purge), { t: 'done', result: { partition: 0, startOffset: 5, purged: 5 } }, 'answered once both said they start at 5')
  t.equal(f3!.log.startOffset, 5)
  t.same([f2!.log.endOffset, f3!.log.endOffset], [5, 5])

  // A follower behind the purge (its end below the new start): emptied, it goes on at the leader's start.
  const [late] = brokers(t, 4)
  await leader!.role('leader', 1, [1, 2, 3], 2) // 4 is not in sync: the purge above did not wait for it
  await late!.role('follower', 1, [1, 2, 3], 2)
  let pos4 = await late!.learn(1)
  await leader!.publish(['f', 'g'])
  pos4 = await catchUp(leader!, late!, 1, pos4)
  t.strictSame(pos4, { endOffset: 7, lastEpoch: 1, startOffset: 5 }, 'a new copy starts where the leader starts, not at 0')
  t.ok(all(late!.log).equals(all(leader!.log)), "and holds the leader's records byte for byte")
})

t.test('a purge waiting for its followers when leadership moves is answered NOT_LEADER', async (t) => {
  const [leader, follower] = brokers(t, 1, 2)
  await leader!.role('leader', 1, [1, 2], 2)
  await follower!.role('follower', 1, [1, 2], 2)
  let pos = await follower!.learn(1)
  await leader!.publish(['a'])
  pos = await catchUp(leader!, follower!, 1, pos)
  const id = newId()
  await leader!.turn({ t: 'purge', id, topic: TOPIC, partition: 0 })
  t.equal(leader!.reply(id), undefined)
  await leader!.role('follower', 2, [1, 2], 2)
  t.match(leader!.reply(id), { t: 'fail', code: 'NOT_LEADER' })
})

t.test('a purge on a leader alone in its in-sync set is answered at once', async (t) => {
  const [leader] = brokers(t, 1)
  await leader!.role('leader', 1, [1], 1)
  await leader!.publish(['a', 'b'])
  const id = newId()
  await leader!.turn({ t: 'purge', id, topic: TOPIC, partition: 0 })
  t.match(leader!.reply(id), { t: 'done', result: { startOffset: 2, purged: 2 } })
})

t.test('a follower append waiting for its sync is answered when the partition is dropped or stops being followed, never left hanging', async (t) => {
  // The replica fetcher waits for each append's answer before it fetches again for every partition
  // it follows at that leader: an append left unanswered stalled them all (found by the fault suite
  // moving partitions).
  for (const how of ['drop', 'none'] as const) {
    const [leader, follower] = brokers(t, 1, 2)
    await leader!.role('leader', 1, [1, 2], 2)
    await follower!.role('follower', 1, [1, 2], 2)
    await follower!.learn(1)
    await leader!.publish(['a', 'b'])
    const { answer } = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: 0 })
    const id = newId()
    const append: ToWorker = { t: 'replAppend', id, topic: TOPIC, partition: 0, epoch: 1, hw: answer!.hw, logStart: 0, batches: answer!.batches, diverging: undefined, groups: new Uint8Array(0) }
    // In one turn: the append (answered only after the sync that ends the turn), then the partition goes.
    const gone: ToWorker = how === 'drop' ? { t: 'drop', id: newId(), topic: TOPIC, partition: 0 } : { t: 'role', config: CONFIG, partition: 0, self: 2, role: 'none', epoch: 0, isr: [], minInSync: 1 }
    await follower!.turn(append, gone)
    const reply = follower!.reply(id)
    t.equal(reply?.t, 'fail', `${how}: the waiting append is answered`)
    t.equal((reply as { code?: string } | undefined)?.code, 'NOT_LEADER', `${how}: NOT_LEADER, retriable: the fetcher learns the partition again or lets it go`)
  }
})

t.test('an answer that brings no batches (only a new HW) is answered in its turn, without a sync; one with batches waits for its sync', async (t) => {
  const [leader, follower] = brokers(t, 1, 2)
  await leader!.role('leader', 1, [1, 2], 2)
  await follower!.role('follower', 1, [1, 2], 2)
  let pos = await follower!.learn(1)
  await leader!.publish(['a', 'b'])
  const { answer } = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: pos.endOffset })
  const partition = follower!.worker.ctx.existing(TOPIC, 0)!
  // By hand, so the turn's end can be looked at before any sync ends.
  const appendNow = (a: Pick<FetchAnswer, 'hw' | 'batches'>) => {
    const id = newId()
    follower!.worker.handle([{ t: 'replAppend', id, topic: TOPIC, partition: 0, epoch: 1, hw: a.hw, logStart: 0, batches: a.batches, diverging: undefined, groups: new Uint8Array(0) }])
    follower!.worker.endTurn()
    return id
  }
  const withBatches = appendNow(answer!)
  t.ok(partition.syncer.running, 'batches written start a sync')
  t.equal(follower!.reply(withBatches), undefined, 'and their append is answered only once it ends')
  await follower!.worker.syncsDone()
  pos = (follower!.reply(withBatches) as { result: FollowerPosition }).result
  t.equal(pos.endOffset, 2, 'answered with the synced end')

  const second = await leader!.fetch(2, { leaderEpoch: 1, fetchOffset: pos.endOffset, lastFetchedEpoch: pos.lastEpoch })
  t.equal(second.answer!.hw, 2, 'the next answer moves the HW')
  t.equal(second.answer!.batches.length, 0, 'and brings no batch')
  const hwOnly = appendNow(second.answer!)
  t.equal(partition.syncer.running, undefined, 'no sync for it')
  t.strictSame((follower!.reply(hwOnly) as { result: FollowerPosition }).result, { endOffset: 2, lastEpoch: 1, startOffset: 0 }, 'answered in its turn with what is stored')
})
