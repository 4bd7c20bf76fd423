/**
 * A leader that steps down and leads again in the same epoch: what a broker
 * does when its etcd session is lost for a moment (etcd without quorum) and
 * etcd still names it when it comes back. Its copy hands consumers nothing
 * while it follows; the consumers' credits come back meanwhile (their acks);
 * leading again, it must deliver the rest of the backlog at once, not wait
 * for an append or an ack that a topic no longer written never sends.
 * One partition worker driven in-process through the real thread codec
 * (replica-workers.ts).
 */
import t from 'tap'
import { brokers } from './replica-workers.js'

const RECORDS = 30
const CREDITS = 10

for (const ackNone of [false, true]) {
  t.test(`a consumer${ackNone ? " with ack 'none'" : ''} gets the rest of the backlog once its leader leads again`, async (t) => {
    const [leader] = brokers(t, 1)
    await leader!.role('leader', 1, [1], 1)
    await leader!.publish(Array.from({ length: RECORDS }, (_, i) => `m${i}`))
    await leader!.subscribe('g', 1, 7, { maxInFlight: CREDITS, ackNone })
    const first = leader!.deliveries().map((d) => d[0])
    t.strictSame(first, Array.from({ length: CREDITS }, (_, i) => i), 'its credits worth are delivered')

    await leader!.role('follower', 1, [1], 1)
    await leader!.ack('g', 0, CREDITS)
    t.equal(leader!.deliveries().length, CREDITS, 'a follower delivers nothing, though the credits came back')

    await leader!.role('leader', 1, [1], 1)
    t.strictSame(
      leader!.deliveries().map((d) => d[0]),
      Array.from({ length: 2 * CREDITS }, (_, i) => i),
      'leading again, the next credits worth go out with the role change, nothing published meanwhile',
    )
  })
}
