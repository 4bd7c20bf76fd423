/**
 * confirmedOrderBroken (checker.ts): of the records stored out of send
 * order, only those stored behind a record that was sent after their confirm
 * count; a retry that lands after a later publish still in flight does not.
 */
import t from 'tap'
import { check, confirmedOrderBroken, type Confirmed, type Stored } from './checker.js'

const c = (seq: number, offset: number, sentAt: number, at: number, key = 'k'): Confirmed => ({ id: `p0-${seq}`, producer: 'p0', seq, key, partition: 0, offset, sentAt, at })
const stored = (list: Confirmed[]): Stored[] => list.map((x) => ({ partition: x.partition, offset: x.offset, id: x.id }))

t.test('in order: nothing', async (t) => {
  const list = [c(0, 0, 0, 5), c(1, 1, 1, 6), c(2, 2, 7, 9)]
  t.equal(confirmedOrderBroken(list, stored(list)).count, 0)
})

t.test('both in flight, the earlier stored later (a retry): reordered, but not after a confirm', async (t) => {
  const list = [c(0, 1, 0, 20), c(1, 0, 1, 6)]
  t.equal(check({ confirmed: list, stored: stored(list) }).reordered.count, 1)
  t.equal(confirmedOrderBroken(list, stored(list)).count, 0)
})

t.test('the earlier confirmed before the later was sent, yet stored after it: counted', async (t) => {
  const list = [c(0, 1, 0, 5), c(1, 0, 10, 12)]
  const f = confirmedOrderBroken(list, stored(list))
  t.equal(f.count, 1)
  t.same(f.examples[0]?.storedFirst, { id: 'p0-1', seq: 1, offset: 0 })
  t.same(f.examples[0]?.storedAfter, { id: 'p0-0', seq: 0, offset: 1 })
})

t.test('other keys and partitions are separate orders', async (t) => {
  const list = [c(0, 1, 0, 5, 'a'), c(1, 0, 10, 12, 'b')]
  t.equal(confirmedOrderBroken(list, stored(list)).count, 0)
})
