/**
 * DELIVER is written by hand for speed; it must be byte-for-byte what the
 * generic MessagePack path writes, for every size class of every field.
 */
import t from 'tap'
import fc from 'fast-check'
import { Op, encodeDeliver, encodeDeliverRecords, encodeFrame, decodeDeliver, type Delivery } from '../../protocol/index.js'

const uint = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0xffff }),
  fc.integer({ min: 0x10000, max: 0xffffffff }),
  fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }),
)
const bin = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 65536, max: 70000 }).map((n) => new Uint8Array(n).fill(7)))
const delivery = fc.tuple(uint, uint, uint, uint, bin) as fc.Arbitrary<Delivery>

t.test('the hand-written DELIVER encoder equals the generic one', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(delivery, { maxLength: 20 }), (sub, messages) => {
      const fast = encodeDeliver({ sub, messages })
      const generic = encodeFrame(Op.DELIVER, { sub, messages })
      return fast.equals(generic)
    }),
    { numRuns: 200 },
  )
  // An array of more than 15 and of more than 65535 messages (array16 / array32 headers).
  for (const n of [16, 70000]) {
    const messages: Delivery[] = Array.from({ length: n }, (_, i) => [0, i, 1, 1, new Uint8Array([i & 0xff])])
    const fast = encodeDeliver({ sub: 3, messages })
    t.ok(fast.equals(encodeFrame(Op.DELIVER, { sub: 3, messages })), `${n} messages`)
    t.equal(decodeDeliver(fast.subarray(5)).messages.length, n)
  }
})

t.test('DELIVER from stored records (the worker\'s path) equals encodeDeliver', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      uint,
      fc.array(fc.tuple(uint, uint, fc.integer({ min: 1, max: 300 }), bin), { maxLength: 20 }),
      fc.boolean(),
      (sub, partition, rows, firstDeliveries) => {
        const records = rows.map(([offset, timestamp, , record]) => ({ offset, timestamp, record }))
        const counts = firstDeliveries ? undefined : rows.map((r) => r[2])
        const messages: Delivery[] = rows.map(([offset, timestamp, count, record]) => [partition, offset, timestamp, firstDeliveries ? 1 : count, record])
        return encodeDeliverRecords(sub, partition, records, counts).equals(encodeDeliver({ sub, messages }))
      },
    ),
    { numRuns: 200 },
  )
  t.pass('same bytes for 200 random frames')
})
