/**
 * SlotTable against a Map model: random slots made, re-held and deleted
 * around a moving delivery front (offsets near 0 and past 2^32, where
 * `offset & mask` must still be offset mod capacity), with a small ring so
 * that slots overflow into the map and the ring grows, wraps and empties.
 * After every step each offset touched reads back as the model says, the
 * size agrees, and forEach visits exactly the model's offsets, once each.
 */
import t from 'tap'
import fc from 'fast-check'
import { BASES, fromFront, withOffsets } from './ring-offsets.js'
import { SlotTable } from '../../broker/worker/slot-table.js'
import type { Member } from '../../broker/worker/group-cursor.js'

const members: Member[] = [0, 1].map((conn) => ({ conn, sub: 1, maxInFlight: 10, inFlight: 0, ackTimeoutMs: 1000, maxDeliveries: 5, ackNone: false }))

type Op = { k: 'set' | 'hold' | 'delete'; at: number; member: number; deadline: number; count: number }

const op: fc.Arbitrary<Op> = fc.record({
  k: fc.constantFrom('set' as const, 'set' as const, 'hold' as const, 'delete' as const),
  at: fromFront,
  member: fc.integer({ min: -1, max: 1 }),
  deadline: fc.nat(10_000),
  count: fc.integer({ min: 1, max: 9 }),
})

interface Model {
  count: number
  deadline: number
  holder: Member | undefined
}

for (const base of BASES) {
  t.test(`slots read back as a Map of them says (offsets from ${base})`, async () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(16, 64, 1 << 17), (ops, maxRing) => {
        const table = new SlotTable(maxRing)
        const model = new Map<number, Model>()
        const touched = new Set<number>()
        for (const [o, offset] of withOffsets(ops, base)) {
          touched.add(offset)
          const holder = o.member < 0 ? undefined : members[o.member]
          if (o.k === 'set') {
            table.set(offset, holder, o.deadline, o.count)
            model.set(offset, { count: o.count, deadline: o.deadline, holder })
          } else if (o.k === 'hold') {
            table.hold(offset, holder, o.deadline)
            const m = model.get(offset)
            if (m) Object.assign(m, { holder, deadline: o.deadline })
          } else {
            table.delete(offset)
            model.delete(offset)
          }
          for (const x of touched) {
            const m = model.get(x)
            if (table.count(x) !== (m?.count ?? 0)) throw new Error(`count of ${x}: ${table.count(x)}, model ${m?.count ?? 0}`)
            if (table.holder(x) !== m?.holder) throw new Error(`holder of ${x} differs from the model`)
            if (table.deadline(x) !== (m?.deadline ?? 0)) throw new Error(`deadline of ${x}: ${table.deadline(x)}, model ${m?.deadline ?? 0}`)
          }
          if (table.size !== model.size) throw new Error(`size ${table.size}, model ${model.size}`)
          const visited = table.offsets()
          if (new Set(visited).size !== visited.length) throw new Error('forEach visited an offset twice')
          if ([...visited].sort((a, b) => a - b).join() !== [...model.keys()].sort((a, b) => a - b).join()) throw new Error(`forEach visited ${visited}, model ${[...model.keys()]}`)
        }
      }),
      { numRuns: 200 },
    )
  })
}

t.test('a window wider than the ring allows overflows into the map and reads back', async (t) => {
  const table = new SlotTable(16)
  const m = members[0]!
  table.set(100, m, 1, 1) // stuck at the floor
  for (let o = 101; o < 200; o++) table.set(o, m, 2, 1)
  t.equal(table.size, 100)
  t.equal(table.count(100), 1)
  t.equal(table.count(199), 1)
  t.equal(table.holder(150), m)
  t.same(table.offsets().sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => 100 + i))
  for (let o = 100; o < 200; o++) table.delete(o)
  t.equal(table.size, 0)
  t.same(table.offsets(), [])
  // Empty again: the next slots start a new window wherever they are.
  table.set(10_000, m, 3, 2)
  t.equal(table.count(10_000), 2)
  t.equal(table.count(100), 0)
})
