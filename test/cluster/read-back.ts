/**
 * Read every record a topic holds, through the real client, once each, for
 * the checker: `{ partition, offset, id }` where the id comes from the
 * record's `msg-id` header (what the workload writes) or a function given.
 *
 * How: describe the topic (start and end offset of each partition), then an
 * ephemeral subscription from `earliest` with `ack: 'none'`. An ephemeral
 * subscription has a group of its own that the broker never saves and drops
 * when it ends, so reading back changes no group state that consumers rely
 * on; `ack: 'none'` means nothing is ever redelivered to it. There is no
 * admin "peek" in the protocol today; this is the read the protocol offers.
 * A place seen twice (a reconnect starts the ephemeral group again) is kept
 * once.
 *
 * Bounded: it stops when every offset in [start, end) of every partition
 * (minus the ranges recovery reported corrupt) has come, or at the deadline,
 * and then says which offsets never came.
 */
import { connect, type Client, type ConnectOptions, type Message, type PartitionInfo } from '../../clients/index.js'
import type { Stored } from './checker.js'

export const ID_HEADER = 'msg-id'

export interface ReadBackOptions {
  /** Connect straight to the broker, not through a fault proxy. */
  url: string | string[]
  topic: string
  /** Give up after this long. Default 20 s. */
  timeoutMs?: number
  /** The message id of a record. Default: its `msg-id` header, else `?<partition>:<offset>`. */
  idOf?: (msg: Message) => string
  connect?: ConnectOptions
  /** How to reach the broker (default connect(); a cluster's test reads each broker through a client of that broker only). */
  open?: (url: string | string[], opts: ConnectOptions) => Promise<Client>
}

export interface ReadBackResult {
  records: Stored[]
  /** Every offset the topic described was read. */
  complete: boolean
  /** Offsets described but never read, as [from, to) ranges per partition. */
  missing: { partition: number; from: number; to: number }[]
  partitions: PartitionInfo[]
}

const defaultId = (msg: Message) => msg.headers[ID_HEADER] ?? `?${msg.partition}:${msg.offset}`

export async function readBack(opts: ReadBackOptions): Promise<ReadBackResult> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000)
  const idOf = opts.idOf ?? defaultId
  const client = await (opts.open ?? connect)(opts.url, { name: 'read-back', requestTimeoutMs: 10_000, ...opts.connect })
  client.on('error', () => {}) // failures reach the calls; a stray one must not crash the test
  try {
    const described = await client.admin.describeTopic(opts.topic)
    // A cluster's broker describes every partition, and serves the partitions it leads: those are read here.
    const self = client.welcome.brokerId
    const leads = (partition: number) => described.placement?.find((q) => q.partition === partition)?.leader === self
    const partitionInfo = described.placement ? described.partitionInfo.filter((p) => leads(p.partition)) : described.partitionInfo
    const expected = new Map(partitionInfo.map((p) => [p.partition, expectedOffsets(p)]))
    const want = [...expected.values()].reduce((n, e) => n + e.count, 0)
    const seen = new Map(partitionInfo.map((p) => [p.partition, new Map<number, string>()]))
    let got = 0
    const records: Stored[] = []
    if (want > 0) {
      const consumer = await client.subscribe(opts.topic, { from: 'earliest', ack: 'none', maxInFlight: 1000 })
      const iterator = consumer[Symbol.asyncIterator]()
      let pending: Promise<IteratorResult<Message>> | undefined
      while (got < want) {
        const left = deadline - Date.now()
        if (left <= 0) break
        pending ??= iterator.next()
        let timer: NodeJS.Timeout | undefined
        const r = await Promise.race([pending, new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), left)))])
        clearTimeout(timer)
        if (r === 'late') break
        pending = undefined
        if (r.done) break
        const msg = r.value
        const byOffset = seen.get(msg.partition)
        if (!byOffset || byOffset.has(msg.offset)) continue
        const id = idOf(msg)
        byOffset.set(msg.offset, id)
        records.push({ partition: msg.partition, offset: msg.offset, id })
        if (expected.get(msg.partition)!.includes(msg.offset)) got++
      }
      await consumer.close({ timeoutMs: 1000 }).catch(() => {})
    }
    const missing = partitionInfo.flatMap((p) => missingRanges(p.partition, expected.get(p.partition)!, seen.get(p.partition)!))
    return { records, complete: missing.length === 0, missing, partitions: partitionInfo }
  } finally {
    await client.close().catch(() => {})
  }
}

interface Expected {
  count: number
  includes(offset: number): boolean
  ranges: [number, number][]
}

/** The offsets a partition should yield: [start, end) without its corrupt ranges. */
function expectedOffsets(p: PartitionInfo): Expected {
  let ranges: [number, number][] = [[p.startOffset, p.endOffset]]
  for (const c of p.corrupt) {
    ranges = ranges.flatMap(([a, b]): [number, number][] => {
      const cutFrom = Math.max(a, c.fromOffset)
      const cutTo = Math.min(b, c.toOffset)
      if (cutFrom >= cutTo) return [[a, b]]
      return ([[a, cutFrom], [cutTo, b]] as [number, number][]).filter(([x, y]) => x < y)
    })
  }
  return {
    ranges,
    count: ranges.reduce((n, [a, b]) => n + (b - a), 0),
    includes: (o) => ranges.some(([a, b]) => o >= a && o < b),
  }
}

function missingRanges(partition: number, e: Expected, seen: Map<number, string>) {
  const out: { partition: number; from: number; to: number }[] = []
  for (const [a, b] of e.ranges) {
    let from = -1
    for (let o = a; o <= b; o++) {
      const absent = o < b && !seen.has(o)
      if (absent && from < 0) from = o
      if (!absent && from >= 0) {
        out.push({ partition, from, to: o })
        from = -1
      }
    }
  }
  return out
}
