/**
 * The verdict of a fault test: given what the producers were told (every
 * confirmed publish with the partition and offset its PUBLISH_ACK named),
 * what the partitions hold when read back, and optionally what consumers
 * received, say what went wrong:
 *
 * - lost: confirmed, but not in the read-back.
 * - duplicated: one message id stored at more than one place.
 * - reordered: within a partition, a message of a producer and key stored
 *   after a message of the same producer and key that was sent later.
 *   Counted per message (each one stored behind a later-sent one), on the
 *   first copy of each id, so a duplicate does not count twice.
 * - offsetMismatch: stored, but at none of the place its ack named.
 * - unconfirmedSeen: stored, yet never published (only checked when the
 *   `attempted` ids are given: a publish that timed out may be stored,
 *   which is allowed, so only an id never attempted is wrong).
 * - phantoms: delivered to a consumer, yet neither confirmed nor stored
 *   (a consumer read data that then vanished, or that was never written).
 * - undelivered: confirmed, but no consumer of the group received it
 *   (only checked when deliveries are given; at-least-once).
 *
 * The report is a plain object: a count and the first few examples of each
 * kind, and a one-line summary().
 */

/** A publish the broker confirmed. `seq` is the producer's send order. */
export interface Confirmed {
  id: string
  producer: string
  seq: number
  key?: string
  partition: number
  offset: number
  /** When it was handed to the client and when its confirm came (ms since the epoch), where the workload logs them. */
  sentAt?: number
  at?: number
}

/** A record read back from a partition. */
export interface Stored {
  partition: number
  offset: number
  id: string
}

/** A message a consumer received, in the order that consumer received it. */
export interface Delivered {
  consumer: string
  id: string
  partition: number
  offset: number
  /** When the consumer got it (ms since the epoch). */
  at?: number
}

export interface CheckInput {
  confirmed: readonly Confirmed[]
  stored: readonly Stored[]
  /** Every id a producer tried to publish, confirmed or not: enables unconfirmedSeen. */
  attempted?: Iterable<string>
  /** What the consumers of one group received: enables phantoms and undelivered. */
  delivered?: readonly Delivered[]
  /** Examples kept per kind. Default 5. */
  examples?: number
}

export interface Finding<E> {
  count: number
  examples: E[]
}

export interface Place {
  partition: number
  offset: number
}

export interface Reordering {
  producer: string
  key: string | undefined
  partition: number
  /** Sent later, stored first. */
  storedFirst: { id: string; seq: number; offset: number }
  /** Sent earlier, stored after it. */
  storedAfter: { id: string; seq: number; offset: number }
}

export interface CheckReport {
  confirmed: number
  stored: number
  delivered: number
  lost: Finding<Confirmed>
  duplicated: Finding<{ id: string; at: Place[] }>
  reordered: Finding<Reordering>
  offsetMismatch: Finding<{ id: string; acked: Place; stored: Place[] }>
  unconfirmedSeen: Finding<Stored>
  phantoms: Finding<Delivered>
  undelivered: Finding<Confirmed>
  /** True when every count is zero. */
  ok: boolean
  summary(): string
}

const KINDS = ['lost', 'duplicated', 'reordered', 'offsetMismatch', 'unconfirmedSeen', 'phantoms', 'undelivered'] as const

class Collector<E> {
  private count = 0
  private readonly examples: E[] = []
  constructor(private readonly keep: number) {}
  add(e: E): void {
    if (this.count++ < this.keep) this.examples.push(e)
  }
  result(): Finding<E> {
    return { count: this.count, examples: this.examples }
  }
}

export function check(input: CheckInput): CheckReport {
  const keep = input.examples ?? 5
  // One stored record per place: a read-back that saw a place twice (a redelivery) is one record.
  const byPlace = new Map<string, Stored>()
  for (const s of input.stored) {
    const k = `${s.partition}:${s.offset}`
    if (!byPlace.has(k)) byPlace.set(k, s)
  }
  const stored = [...byPlace.values()].sort((a, b) => a.partition - b.partition || a.offset - b.offset)
  const placesOf = new Map<string, Place[]>()
  for (const s of stored) {
    const places = placesOf.get(s.id)
    if (places) places.push({ partition: s.partition, offset: s.offset })
    else placesOf.set(s.id, [{ partition: s.partition, offset: s.offset }])
  }
  const confirmedIds = new Set(input.confirmed.map((c) => c.id))

  const lost = new Collector<Confirmed>(keep)
  const offsetMismatch = new Collector<{ id: string; acked: Place; stored: Place[] }>(keep)
  for (const c of input.confirmed) {
    const places = placesOf.get(c.id)
    if (!places) lost.add(c)
    else if (!places.some((p) => p.partition === c.partition && p.offset === c.offset)) {
      offsetMismatch.add({ id: c.id, acked: { partition: c.partition, offset: c.offset }, stored: places })
    }
  }

  const duplicated = new Collector<{ id: string; at: Place[] }>(keep)
  for (const [id, at] of placesOf) if (at.length > 1) duplicated.add({ id, at })

  const reordered = findReorderings(input.confirmed, stored, keep)

  const unconfirmedSeen = new Collector<Stored>(keep)
  if (input.attempted !== undefined) {
    const attempted = new Set(input.attempted)
    for (const s of stored) if (!confirmedIds.has(s.id) && !attempted.has(s.id)) unconfirmedSeen.add(s)
  }

  const phantoms = new Collector<Delivered>(keep)
  const undelivered = new Collector<Confirmed>(keep)
  if (input.delivered !== undefined) {
    const deliveredIds = new Set<string>()
    for (const d of input.delivered) {
      deliveredIds.add(d.id)
      if (!confirmedIds.has(d.id) && !placesOf.has(d.id)) phantoms.add(d)
    }
    for (const c of input.confirmed) if (!deliveredIds.has(c.id)) undelivered.add(c)
  }

  const findings = {
    lost: lost.result(),
    duplicated: duplicated.result(),
    reordered: reordered.result(),
    offsetMismatch: offsetMismatch.result(),
    unconfirmedSeen: unconfirmedSeen.result(),
    phantoms: phantoms.result(),
    undelivered: undelivered.result(),
  }
  const report: CheckReport = {
    confirmed: input.confirmed.length,
    stored: stored.length,
    delivered: input.delivered?.length ?? 0,
    ...findings,
    ok: KINDS.every((k) => findings[k].count === 0),
    summary: () => summarize(report),
  }
  return report
}

/** Per (producer, key, partition): walk the first copy of each confirmed id in offset order; whoever has a later-sent one before it is out of order. */
function findReorderings(confirmed: readonly Confirmed[], stored: readonly Stored[], keep: number): Collector<Reordering> {
  const out = new Collector<Reordering>(keep)
  const byId = new Map(confirmed.map((c) => [c.id, c]))
  const seen = new Set<string>()
  // Stored is sorted by partition then offset, so each group is walked in log order.
  const highest = new Map<string, { id: string; seq: number; offset: number }>()
  for (const s of stored) {
    const c = byId.get(s.id)
    if (!c || seen.has(s.id)) continue
    seen.add(s.id)
    const group = JSON.stringify([c.producer, c.key ?? null, s.partition])
    const top = highest.get(group)
    const here = { id: s.id, seq: c.seq, offset: s.offset }
    if (top && top.seq > c.seq) out.add({ producer: c.producer, key: c.key, partition: s.partition, storedFirst: top, storedAfter: here })
    else highest.set(group, here)
  }
  return out
}

function summarize(r: CheckReport): string {
  const counts = KINDS.map((k) => `${k} ${r[k].count}`).join(', ')
  const firsts = KINDS.filter((k) => r[k].count > 0).map((k) => `first ${k}: ${JSON.stringify(r[k].examples[0])}`)
  return [`${r.ok ? 'OK' : 'FAILED'}: confirmed ${r.confirmed}, stored ${r.stored}, delivered ${r.delivered}; ${counts}`, ...firsts].join('; ')
}

/**
 * The order a producer can rely on even when it has many publishes in
 * flight and retries them (clients/cluster-producer.ts allows a refused
 * publish, sent again, to land after a later one): a record whose confirm
 * came before another record of the same producer and key was *sent* must be
 * stored before it. Counts the records stored after one that was sent only
 * once they were confirmed, per (producer, key, partition), on the first copy
 * of each id. Needs `sentAt` and `at` on the confirms; a subset of `reordered`.
 */
export function confirmedOrderBroken(confirmed: readonly Confirmed[], stored: readonly Stored[], keep = 5): Finding<Reordering> {
  const out = new Collector<Reordering>(keep)
  const byId = new Map(confirmed.map((c) => [c.id, c]))
  const seen = new Set<string>()
  const latestSent = new Map<string, { id: string; seq: number; offset: number; sentAt: number }>()
  const inLogOrder = [...stored].sort((a, b) => a.partition - b.partition || a.offset - b.offset)
  for (const s of inLogOrder) {
    const c = byId.get(s.id)
    if (!c || c.sentAt === undefined || c.at === undefined || seen.has(s.id)) continue
    seen.add(s.id)
    const group = JSON.stringify([c.producer, c.key ?? null, s.partition])
    const top = latestSent.get(group)
    if (top && c.at < top.sentAt) out.add({ producer: c.producer, key: c.key, partition: s.partition, storedFirst: { id: top.id, seq: top.seq, offset: top.offset }, storedAfter: { id: s.id, seq: c.seq, offset: s.offset } })
    if (!top || c.sentAt > top.sentAt) latestSent.set(group, { id: s.id, seq: c.seq, offset: s.offset, sentAt: c.sentAt })
  }
  return out.result()
}
