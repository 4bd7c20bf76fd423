/**
 * An idempotent producer's batches of one partition stay in order across a
 * retriable refusal on one connection (broker/publish-fences.ts):
 * once batch A is refused, the later batches of that producer and partition
 * are refused too, with A's error, until A (or an earlier batch) comes again.
 * The class alone, then in a replicated partition worker driven in-process
 * through the real thread codec (replica-workers.ts).
 */
import t from 'tap'
import { SkiffError } from '../../protocol/index.js'
import { FENCE_MS, MAX_FENCES, PublishFences } from '../../broker/publish-fences.js'
import { decodeRecord } from '../../protocol/index.js'
import { brokers, type Broker } from './replica-workers.js'

const unavailable = new SkiffError('PARTITION_UNAVAILABLE', 'orders/2: registration about to lapse')

t.test('a later batch waits behind the refused one; the refused one, sent again, lifts the fence', async (t) => {
  const f = new PublishFences()
  const now = 1_000_000
  t.equal(f.check(7, 10, 'orders', 2, now), undefined, 'nothing refused yet: nothing held back')
  f.refused(7, 10, 'orders', 2, unavailable, now)
  const behind = f.check(7, 11, 'orders', 2, now + 5)
  t.equal(behind?.code, 'PARTITION_UNAVAILABLE', 'batch 11, pipelined behind 10, is refused with 10\'s error')
  t.equal(behind?.retriable, true, 'retriable: the client holds it behind 10 and sends it again')
  t.match(behind?.details, { topic: 'orders', partition: 2, producerId: 7, refusedSequence: 10 })
  t.equal(f.check(7, 12, 'orders', 1, now + 5), undefined, 'another partition of the producer is not held back')
  t.equal(f.check(8, 12, 'orders', 2, now + 5), undefined, 'nor another producer on the partition')
  t.equal(f.check(7, 12, 'payments', 2, now + 5), undefined, 'nor the same partition number of another topic')

  t.equal(f.check(7, 10, 'orders', 2, now + 300), undefined, 'batch 10 sent again is let through')
  t.equal(f.check(7, 11, 'orders', 2, now + 301), undefined, 'and then 11')
  t.equal(f.size, 0, 'nothing is kept once the fence is lifted')
})

t.test('refused again, the fence stays on the earliest refused batch and lasts from the last refusal', async (t) => {
  const f = new PublishFences()
  const now = 2_000_000
  f.refused(7, 10, 'orders', 2, unavailable, now)
  f.refused(7, 12, 'orders', 2, unavailable, now + 1) // a later batch refused on its own account
  t.ok(f.check(7, 11, 'orders', 2, now + 2), '11 still waits behind 10')
  f.refused(7, 10, 'orders', 2, unavailable, now + FENCE_MS - 1) // 10 sent again and refused again
  t.ok(f.check(7, 11, 'orders', 2, now + FENCE_MS + 10), 'the fence lasts FENCE_MS from its last refusal')
  t.equal(f.check(7, 11, 'orders', 2, now + 2 * FENCE_MS), undefined, 'and no longer: a batch sent elsewhere or given up does not hold the rest for ever')
})

t.test('only retriable refusals fence, and a connection keeps at most MAX_FENCES', async (t) => {
  const f = new PublishFences()
  const now = 3_000_000
  f.refused(7, 10, 'orders', 2, new SkiffError('INVALID_REQUEST', 'bad batch'), now)
  t.equal(f.check(7, 11, 'orders', 2, now), undefined, 'a batch refused for good holds nothing back: it is never sent again')
  for (let p = 0; p < MAX_FENCES + 10; p++) f.refused(7, 10, 'orders', p, unavailable, now)
  t.equal(f.size, MAX_FENCES, 'bounded')
  t.equal(f.check(7, 11, 'orders', 0, now), undefined, 'the oldest fence went first')
  t.ok(f.check(7, 11, 'orders', MAX_FENCES + 9, now), 'the newest is kept')
})

t.test('in a replicated partition worker: a batch refused below minInSync is stored before the later batch that came while it was refused', async (t) => {
  const [leader] = brokers(t, 1)
  await leader!.role('leader', 1, [1], 2) // below minInSync: publishes are refused
  const a = await leader!.publish(['a'], { producerId: 5, sequence: 10 })
  t.match(leader!.reply(a), { t: 'fail', code: 'NOT_ENOUGH_REPLICAS' }, 'batch 10 is refused')
  await leader!.role('leader', 1, [1, 2], 2) // the follower is back in sync before batch 11 arrives
  const b = await leader!.publish(['b'], { producerId: 5, sequence: 11 })
  t.match(leader!.reply(b), { t: 'fail', code: 'NOT_ENOUGH_REPLICAS' }, 'batch 11, sent behind 10, is refused with 10\'s error')
  const other = await leader!.publish(['x'], { producerId: 6, sequence: 3 })
  t.equal(leader!.reply(other), undefined, "another producer's batch is taken (it waits for the follower's fetch)")
  await leader!.publish(['a'], { producerId: 5, sequence: 10 })
  await leader!.publish(['b'], { producerId: 5, sequence: 11 })
  t.strictSame(payloads(leader!), ['x', 'a', 'b'], "sent again in order, producer 5's batches are stored in its order")
})

function payloads(b: Broker): string[] {
  return b.log.read(0, 100, 1 << 20).map((r) => decodeRecord(r.record).payload.toString())
}
