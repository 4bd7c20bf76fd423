/**
 * The checker on generated histories: producers publish keyed messages that
 * are stored in send order; then losses, duplicates, swapped neighbours,
 * wrong acks, stray records, missed and phantom deliveries are injected, and
 * the report must count exactly those. A clean history reports zeros.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { check, type CheckInput, type Confirmed, type Delivered, type Stored } from './checker.js'

type Fault = 'none' | 'lose' | 'dup' | 'mismatch' | 'unconfirmed'

const sendArb = fc.record({
  producer: fc.nat({ max: 3 }),
  key: fc.nat({ max: 4 }),
  fault: fc.oneof(
    { weight: 8, arbitrary: fc.constant<Fault>('none') },
    { weight: 1, arbitrary: fc.constantFrom<Fault>('lose', 'dup', 'mismatch', 'unconfirmed') },
  ),
  swapWithNext: fc.boolean(),
  undeliver: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  redeliver: fc.boolean(),
})

const historyArb = fc.record({
  partitions: fc.integer({ min: 1, max: 4 }),
  sends: fc.array(sendArb, { maxLength: 250 }),
  strays: fc.nat({ max: 4 }),
  phantoms: fc.nat({ max: 4 }),
})

type History = typeof historyArb extends fc.Arbitrary<infer H> ? H : never

interface Msg extends Confirmed {
  fault: Fault
  acked: number
  swapped: boolean
  undeliver: boolean
  redeliver: boolean
  swapWithNext: boolean
}

/** The checker's input for a history, with or without its injected faults, and the counts it must report. */
function build(h: History, inject: boolean) {
  const seqs = [0, 0, 0, 0]
  const next = Array.from({ length: h.partitions }, () => 0)
  const msgs: Msg[] = h.sends.map((s) => {
    const producer = `p${s.producer}`
    const seq = seqs[s.producer]!++
    const partition = s.key % h.partitions // a key always lands on one partition
    const offset = next[partition]!++
    return {
      id: `${producer}-${seq}`, producer, seq, key: `k${s.key}`, partition, offset, acked: offset, swapped: false,
      fault: inject ? s.fault : 'none', undeliver: inject && s.undeliver, redeliver: s.redeliver, swapWithNext: inject && s.swapWithNext,
    }
  })
  // Swap neighbours of one producer and key (in send order): stored and acked in the wrong order.
  let swaps = 0
  const groups = new Map<string, Msg[]>()
  for (const m of msgs) groups.set(`${m.producer}/${m.key}`, [...(groups.get(`${m.producer}/${m.key}`) ?? []), m])
  for (const list of groups.values()) {
    for (let i = 0; i + 1 < list.length; i++) {
      const [a, b] = [list[i]!, list[i + 1]!]
      if (!a.swapWithNext || a.fault !== 'none' || b.fault !== 'none' || a.swapped || b.swapped) continue
      ;[a.offset, b.offset] = [b.offset, a.offset]
      a.acked = a.offset
      b.acked = b.offset
      a.swapped = b.swapped = true
      swaps++
    }
  }
  const stored: Stored[] = []
  for (const m of msgs) {
    if (m.fault === 'lose') continue
    stored.push({ partition: m.partition, offset: m.offset, id: m.id })
    if (m.redeliver) stored.push({ partition: m.partition, offset: m.offset, id: m.id }) // read twice: still one record
    if (m.fault === 'dup') stored.push({ partition: m.partition, offset: next[m.partition]!++, id: m.id })
    if (m.fault === 'mismatch') m.acked += 1_000_000
  }
  for (let i = 0; i < (inject ? h.strays : 0); i++) stored.push({ partition: 0, offset: next[0]!++, id: `stray-${i}` })
  const delivered: Delivered[] = []
  const undeliverIds = new Set(msgs.filter((m) => m.undeliver).map((m) => m.id))
  const redeliverIds = new Set(msgs.filter((m) => m.redeliver).map((m) => m.id))
  stored.forEach((s, i) => {
    if (undeliverIds.has(s.id)) return
    const d = { consumer: `c${i % 2}`, id: s.id, partition: s.partition, offset: s.offset }
    delivered.push(d)
    if (redeliverIds.has(s.id)) delivered.push({ ...d, consumer: `c${(i + 1) % 2}` })
  })
  for (let i = 0; i < (inject ? h.phantoms : 0); i++) delivered.push({ consumer: 'c0', id: `ghost-${i}`, partition: 0, offset: 999_999 + i })
  const confirmed = msgs.filter((m) => m.fault !== 'unconfirmed')
  const input: CheckInput = {
    confirmed: confirmed.map((m) => ({ id: m.id, producer: m.producer, seq: m.seq, key: m.key, partition: m.partition, offset: m.acked })),
    stored: stored.reverse(), // the checker must not depend on read-back order
    attempted: msgs.map((m) => m.id),
    delivered,
  }
  const expected = {
    lost: msgs.filter((m) => m.fault === 'lose').length,
    duplicated: msgs.filter((m) => m.fault === 'dup').length,
    reordered: swaps,
    offsetMismatch: msgs.filter((m) => m.fault === 'mismatch').length,
    unconfirmedSeen: inject ? h.strays : 0,
    phantoms: inject ? h.phantoms : 0,
    undelivered: confirmed.filter((m) => m.fault === 'lose' || m.undeliver).length,
  }
  return { input, expected }
}

function counts(r: ReturnType<typeof check>) {
  return {
    lost: r.lost.count,
    duplicated: r.duplicated.count,
    reordered: r.reordered.count,
    offsetMismatch: r.offsetMismatch.count,
    unconfirmedSeen: r.unconfirmedSeen.count,
    phantoms: r.phantoms.count,
    undelivered: r.undelivered.count,
  }
}

t.test('a clean history reports zeros', async (t) => {
  fc.assert(
    fc.property(historyArb, (h) => {
      const { input } = build(h, false)
      const r = check(input)
      // assert throws, so fast-check shrinks a failure and prints its seed.
      assert.deepEqual(counts(r), { lost: 0, duplicated: 0, reordered: 0, offsetMismatch: 0, unconfirmedSeen: 0, phantoms: 0, undelivered: 0 }, r.summary())
      assert.equal(r.ok, true)
      assert.equal(r.confirmed, h.sends.length)
      assert.equal(r.stored, h.sends.length, 'a place read twice counts once')
    }),
    { numRuns: 200 },
  )
  t.pass('200 clean histories reported zeros')
})

t.test('injected losses, duplicates, reorders, wrong acks, strays and phantoms are reported exactly', async (t) => {
  fc.assert(
    fc.property(historyArb, (h) => {
      const { input, expected } = build(h, true)
      const r = check(input)
      assert.deepEqual(counts(r), expected, r.summary())
      assert.equal(r.ok, Object.values(expected).every((n) => n === 0))
    }),
    { numRuns: 300 },
  )
  t.pass('300 faulty histories reported exactly')
})

t.test('examples name what went wrong, and summary() says it in one line', async (t) => {
  const c = (seq: number, offset: number): Confirmed => ({ id: `a-${seq}`, producer: 'a', seq, key: 'k', partition: 0, offset })
  const r = check({
    confirmed: [c(0, 0), c(1, 1), c(2, 2), c(3, 9)],
    stored: [
      { partition: 0, offset: 0, id: 'a-1' },
      { partition: 0, offset: 1, id: 'a-0' },
      { partition: 0, offset: 2, id: 'a-2' },
      { partition: 0, offset: 3, id: 'a-2' },
    ],
  })
  t.same(r.lost.examples.map((x) => x.id), ['a-3'])
  t.same(r.duplicated.examples, [{ id: 'a-2', at: [{ partition: 0, offset: 2 }, { partition: 0, offset: 3 }] }])
  t.same(r.reordered.examples, [{ producer: 'a', key: 'k', partition: 0, storedFirst: { id: 'a-1', seq: 1, offset: 0 }, storedAfter: { id: 'a-0', seq: 0, offset: 1 } }])
  t.same(r.offsetMismatch.examples.map((x) => x.id), ['a-0', 'a-1'], 'each ack named the other one\'s offset')
  t.equal(r.unconfirmedSeen.count, 0, 'not checked without the attempted ids')
  t.equal(r.ok, false)
  t.match(r.summary(), /^FAILED: confirmed 4, stored 4, delivered 0; lost 1, duplicated 1, reordered 1, offsetMismatch 2, unconfirmedSeen 0, phantoms 0, undelivered 0; first lost: \{"id":"a-3"/)
  t.same(JSON.parse(JSON.stringify(r)).lost, { count: 1, examples: [c(3, 9)] }, 'a plain object')
})

t.test('examples are capped, counts are not', async (t) => {
  const confirmed = Array.from({ length: 50 }, (_, i): Confirmed => ({ id: `p-${i}`, producer: 'p', seq: i, partition: 0, offset: i }))
  const r = check({ confirmed, stored: [], examples: 3 })
  t.equal(r.lost.count, 50)
  t.equal(r.lost.examples.length, 3)
})
