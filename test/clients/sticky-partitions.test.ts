/**
 * A cluster producer's keyless records, one partition per batch: they stay
 * with the batch their partition is filling, and move on to the next
 * partition once it closed (end of turn, full by count or by bytes);
 * records waiting for admission (in no batch yet) stay together for their
 * turn, at most a batch's worth. Driven with a stand-in for the outbox's
 * open batches: a map the test opens and closes batches in.
 */
import t from 'tap'
import { StickyPartitions } from '../../clients/sticky-partitions.js'
import { MAX_BATCH_RECORDS } from '../../clients/outbox.js'
import type { TopicPlacement } from '../../protocol/index.js'

const topic: TopicPlacement = { topic: 'orders', partitions: [0, 1, 2, 3].map((partition) => ({ partition, leader: 1, replicas: [1], isr: [1] })) } as unknown as TopicPlacement
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function setup() {
  const open = new Map<string, object>()
  let rr = -1
  const sticky = new StickyPartitions({
    openBatch: (name, confirm, partition) => open.get(`${name}/${confirm}/${partition}`),
    next: (p) => (rr = (rr + 1) % p.partitions.length),
  })
  /** Pick a partition and "add" the record: open its batch when none is (what the outbox does). */
  const add = (confirm = true): number => {
    const p = sticky.pick(topic, confirm)!
    const key = `orders/${confirm}/${p}`
    if (!open.has(key)) open.set(key, {})
    return p
  }
  const closeAll = () => open.clear()
  return { sticky, open, add, closeAll }
}

t.test("a turn's records share one partition; the next turn's batch goes to the next", async (t) => {
  const { add, closeAll } = setup()
  const first = Array.from({ length: 300 }, () => add())
  t.same(new Set(first), new Set([0]), 'all 300 in partition 0')
  closeAll() // the outbox closes its batches at the end of the turn
  await nextTurn()
  const second = Array.from({ length: 10 }, () => add())
  t.same(new Set(second), new Set([1]), 'the next turn: partition 1')
})

t.test('a batch closed in the middle of a turn (full) sends the next record to the next partition', async (t) => {
  const { add, open } = setup()
  t.equal(add(), 0)
  t.equal(add(), 0)
  open.delete('orders/true/0') // full by bytes: the outbox closed it
  t.equal(add(), 1, 'moved on at once, in the same turn')
  t.equal(add(), 1)
})

t.test('records waiting for admission (no batch open) stay together for their turn, a batch at most', async (t) => {
  const { sticky } = setup()
  const picks = Array.from({ length: MAX_BATCH_RECORDS + 1 }, () => sticky.pick(topic, true))
  t.same(new Set(picks.slice(0, MAX_BATCH_RECORDS)), new Set([0]), 'a batch worth in partition 0')
  t.equal(picks[MAX_BATCH_RECORDS], 1, 'then the next partition')
  await nextTurn()
  t.equal(sticky.pick(topic, true), 2, 'a new turn moves on')
})

t.test('publish() and send() stick separately', async (t) => {
  const { add } = setup()
  t.equal(add(true), 0)
  t.equal(add(false), 1)
  t.equal(add(true), 0, 'the confirmed batch is still filling')
  t.equal(add(false), 1)
})

t.test('a sticky partition the placement no longer has is left', async (t) => {
  const answers = [3, 0]
  const sticky = new StickyPartitions({ openBatch: () => ({}), next: () => answers.shift() })
  t.equal(sticky.pick(topic, true), 3)
  t.equal(sticky.pick(topic, true), 3, 'its batch is filling')
  const fewer = { ...topic, partitions: topic.partitions.slice(0, 2) }
  t.equal(sticky.pick(fewer, true), 0, 'partition 3 is past the placement now: the next one is asked for')
})
