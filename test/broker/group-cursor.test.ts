/**
 * GroupCursor against a plain model: random deliveries, acks (fresh and
 * stale), nacks, expiries, members leaving and snapshots restored, and after
 * every step the floor, lag, in-flight counts, each member's credits and the
 * delivery counts agree with the model.
 */
import t from 'tap'
import fc from 'fast-check'
import { GroupCursor, type Assignment, type Member } from '../../broker/worker/group-cursor.js'

type Op =
  | { k: 'deliver'; m: number }
  | { k: 'ack'; m: number; pick: number }
  | { k: 'nack'; pick: number }
  | { k: 'expire'; pick: number }
  | { k: 'leave'; m: number }
  | { k: 'restore' }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('deliver' as const), m: fc.nat(2) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('ack' as const), m: fc.nat(2), pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('nack' as const), pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('expire' as const), pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('leave' as const), m: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('restore' as const) }) },
)

const member = (i: number): Member => ({ conn: i, sub: 1, maxInFlight: 1_000_000, inFlight: 0, ackTimeoutMs: 1000, maxDeliveries: 100, ackNone: false })

t.test('the cursor agrees with a model under random deliveries, settlements and restarts', async () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      let cursor = new GroupCursor('g', 0)
      let members = [member(0), member(1), member(2)]
      for (const m of members) cursor.addMember(m)
      // The model: who holds what, delivery counts, what is settled.
      const holder = new Map<number, number>()
      const counts = new Map<number, number>()
      const settled = new Set<number>()
      let now = 1000
      const assigned: Assignment = { member: undefined, count: 0 }
      let logEnd = 0 // the partition's end: one past the highest offset delivered fresh
      for (const o of ops) {
        now += 10
        if (o.k === 'deliver') {
          const [due] = cursor.takeDue(now + 1_000_000, 1)
          // After a restart `next` is back at the floor: skip what is settled, as the partition's pump does.
          while (due === undefined && settled.has(cursor.next)) cursor.takeFresh(cursor.next)
          const offset = due ?? cursor.next
          if (!cursor.assign(offset, now, assigned)) continue
          const member = assigned.member!
          if (due === undefined) cursor.takeFresh(offset)
          logEnd = Math.max(logEnd, offset + 1)
          holder.set(offset, member.conn)
          counts.set(offset, (counts.get(offset) ?? 0) + 1)
          if (assigned.count !== counts.get(offset)) throw new Error(`count ${assigned.count} for ${offset}, model ${counts.get(offset)}`)
        } else if (o.k === 'ack') {
          const held = [...holder.keys()]
          const offset = held.length > 0 ? held[o.pick % held.length]! : o.pick
          const m = members[o.m]!
          const ok = cursor.ackHeld(m, [offset, 1]) === 1
          const expect = holder.get(offset) === m.conn
          if (ok !== expect) throw new Error(`ack of ${offset} by ${m.conn}: ${ok}, model ${expect}`)
          if (ok) {
            holder.delete(offset)
            counts.delete(offset)
            settled.add(offset)
          }
        } else if (o.k === 'nack' || o.k === 'expire') {
          const held = [...holder.keys()]
          if (held.length === 0) continue
          const offset = held[o.pick % held.length]!
          if (o.k === 'nack') cursor.release(offset, now)
          else {
            const expired = cursor.expired(now + 1_000_000).map((e) => e.offset)
            for (const e of expired) {
              holder.delete(e)
              cursor.requeue(e, now)
            }
            continue
          }
          holder.delete(offset)
        } else if (o.k === 'leave') {
          const m = members[o.m]!
          // What it held comes back with its counts; the partition redelivers it (or dead-letters the spent).
          const taken = cursor.removeMember(m.conn, m.sub)!
          const heldByIt = [...holder].filter(([, c]) => c === m.conn).map(([offset]) => offset)
          if (taken.map((e) => e.offset).sort().join() !== heldByIt.sort().join()) throw new Error(`leaving returned ${taken.map((e) => e.offset)}, model ${heldByIt}`)
          for (const e of taken) {
            if (e.count !== counts.get(e.offset)) throw new Error(`leaving: count of ${e.offset} ${e.count}, model ${counts.get(e.offset)}`)
            cursor.requeue(e.offset, now)
            holder.delete(e.offset)
          }
          cursor.addMember(m) // comes back at once, holding nothing
        } else {
          // A restart: everything not settled is delivered again, counts carry on.
          cursor = new GroupCursor('g', 0, cursor.snapshot())
          members = [member(0), member(1), member(2)]
          for (const m of members) cursor.addMember(m)
          holder.clear()
        }
        let floor = 0
        while (settled.has(floor)) floor++
        if (cursor.floor !== floor) throw new Error(`floor ${cursor.floor}, model ${floor}`)
        if (cursor.inFlight !== holder.size) throw new Error(`in flight ${cursor.inFlight}, model ${holder.size}`)
        for (const m of members) {
          const n = [...holder.values()].filter((c) => c === m.conn).length
          if (m.inFlight !== n) throw new Error(`member ${m.conn} holds ${m.inFlight}, model ${n}`)
        }
        const snap = cursor.snapshot()
        const snapCounts = new Map(snap.deliveries)
        for (const [offset, c] of counts) if (snapCounts.get(offset) !== c) throw new Error(`count of ${offset} in the snapshot ${snapCounts.get(offset)}, model ${c}`)
        if (snapCounts.size !== counts.size) throw new Error(`snapshot has ${snapCounts.size} counts, model ${counts.size}`)
        const unsettled = logEnd - floor - [...settled].filter((x) => x >= floor).length
        if (cursor.lag(logEnd) !== unsettled) throw new Error(`lag ${cursor.lag(logEnd)}, model ${unsettled}`)
      }
    }),
    { numRuns: 300 },
  )
})
