/**
 * OffsetSet against a Set: random adds and deletes around a rising floor
 * (offsets near 0 and past 2^32), with rings small enough that offsets
 * overflow into the Set and the ring grows, wraps and empties. After every
 * step each offset touched reads back as the model says, delete answers as
 * Set.delete does, and iteration gives exactly the model's offsets.
 */
import t from 'tap'
import fc from 'fast-check'
import { BASES, fromFront, withOffsets } from './ring-offsets.js'
import { OffsetSet } from '../../broker/worker/offset-set.js'

const op = fc.record({
  add: fc.boolean(),
  at: fromFront,
})

for (const base of BASES) {
  t.test(`offsets read back as a Set of them says (from ${base})`, async () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(16, 64, 1 << 20), (ops, maxRing) => {
        const set = new OffsetSet(maxRing)
        const model = new Set<number>()
        const touched = new Set<number>()
        for (const [o, offset] of withOffsets(ops, base)) {
          touched.add(offset)
          if (o.add) {
            set.add(offset)
            model.add(offset)
          } else if (set.delete(offset) !== model.delete(offset)) throw new Error(`delete of ${offset} answered differently from the model`)
          for (const x of touched) if (set.has(x) !== model.has(x)) throw new Error(`has(${x}): ${set.has(x)}, model ${model.has(x)}`)
          if (set.size !== model.size) throw new Error(`size ${set.size}, model ${model.size}`)
          const seen = [...set]
          if (seen.sort((a, b) => a - b).join() !== [...model].sort((a, b) => a - b).join()) throw new Error(`iterated ${seen}, model ${[...model]}`)
        }
      }),
      { numRuns: 200 },
    )
  })
}
