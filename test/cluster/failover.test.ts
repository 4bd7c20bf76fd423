/**
 * The fault suite's failover figures (failover.ts): from a fault to the first
 * confirm, and to the group's first delivery, of a record sent after it to a
 * partition it hit. What was sent before the fault, or to a partition it did
 * not hit, or never confirmed, does not count.
 */
import t from 'tap'
import type { Confirmed, Delivered } from './checker.js'
import { deliveryEvents, failoverStats, failoverTimes } from './failover.js'
import type { FaultRecord } from './faults.js'

const fault = (name: FaultRecord['name'], startedAt: number, affected: number[]): FaultRecord => ({ name, target: 'broker 2', affected, startedAt, healedAt: startedAt + 500, settledAt: startedAt + 600 })

const confirm = (id: string, partition: number, sentAt: number, at: number): Confirmed => ({ id, producer: 'p0', seq: 0, partition, offset: 0, sentAt, at })
const deliver = (id: string, partition: number, at: number): Delivered => ({ consumer: 'c0', id, partition, offset: 0, at })

t.test('reading resumes at the first delivery of a record sent after the fault to a partition it hit', async (t) => {
  const faults = [fault('pause-leader', 1000, [1]), fault('kill-leader', 5000, [0])]
  const confirmed = [
    confirm('before', 1, 900, 950), // sent before the first fault
    confirm('other', 0, 1100, 1150), // a partition the first fault did not hit
    confirm('after', 1, 1200, 1300),
    confirm('later', 1, 1300, 1350),
    confirm('second', 0, 5100, 7600),
  ]
  const delivered = [
    deliver('before', 1, 1400), // delivered late, but sent before the fault
    deliver('other', 0, 1160),
    deliver('later', 1, 4000), // the consumer followed the partition only here
    deliver('after', 1, 4100),
    deliver('unconfirmed', 1, 2000), // never confirmed: no publish time to count from
    deliver('second', 0, 7700),
  ]
  const events = deliveryEvents(confirmed, delivered)
  t.equal(events.length, 5, 'every delivery of a confirmed record, none of the unconfirmed one')
  const reading = failoverTimes(faults, events)
  t.same(
    reading.map((f) => f.ms),
    [3000, 2700],
    'from each fault to its first qualifying delivery: 4000 - 1000, 7700 - 5000',
  )
  const confirms = failoverTimes(faults, confirmed)
  t.same(
    confirms.map((f) => f.ms),
    [300, 2600],
    'the confirms of the same run: 1300 - 1000, 7600 - 5000',
  )
  const stats = failoverStats(reading)
  t.match(stats.find((s) => s.name === 'all'), { faults: 2, unrecovered: 0, p50: 2700, max: 3000 }, 'summed up over every fault')
})

t.test('a fault after which nothing sent was delivered before the next counts as unrecovered', async (t) => {
  const faults = [fault('pause-leader', 1000, [2]), fault('pause-leader', 3000, [2])]
  const confirmed = [confirm('a', 2, 1500, 1600), confirm('b', 2, 3500, 3600)]
  const delivered = [deliver('b', 2, 3700)] // 'a' was never delivered
  const stats = failoverStats(failoverTimes(faults, deliveryEvents(confirmed, delivered)))
  t.match(stats.find((s) => s.name === 'pause-leader'), { faults: 2, unrecovered: 1, max: 700 }, 'one fault unrecovered, the other read again 700 ms after it')
})

t.test('a move is timed from its end, when the leadership changed hands, not from when it was asked', async (t) => {
  const faults = [fault('move-partition', 1000, [3])] // healed (the move ended) at 1500
  const confirmed = [confirm('during', 3, 1200, 1250), confirm('after', 3, 1600, 1700)]
  const delivered = [deliver('during', 3, 1260), deliver('after', 3, 2500)]
  t.same(
    failoverTimes(faults, confirmed).map((f) => f.ms),
    [200],
    'the confirm of a record sent once it ended: 1700 - 1500',
  )
  t.same(
    failoverTimes(faults, deliveryEvents(confirmed, delivered)).map((f) => f.ms),
    [1000],
    'and its delivery: 2500 - 1500; what the old leader served while the move ran does not count',
  )
})
