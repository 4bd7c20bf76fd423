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
import { sleep } from '../reliability/harness.js'

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

export interface ReadBackLeadersOptions {
  /** Each broker of the cluster that may lead a partition, read straight (`open`: a client of that broker only). */
  urls: string[]
  topic: string
  /** How many partitions the topic has: each is read whole from one broker. */
  partitions: number
  /** Give up after this long. Default 60 s. */
  timeoutMs?: number
  open: NonNullable<ReadBackOptions['open']>
}

export interface ReadBackLeadersResult {
  records: Stored[]
  /** Partitions no broker gave whole before the deadline. */
  unread: number[]
  /** What the last read of each unread partition was missing. */
  missing: ReadBackResult['missing']
  /** Rounds over the brokers it took (1: every partition whole at the first read of its leader). */
  rounds: number
}

/** Pause between rounds while some partition is unread (its leader being elected, say). */
const LEADERS_RETRY_MS = 500
/** One broker's read in a round: a partition whose leader steps down meanwhile is read again in the next. */
const LEADER_READ_MS = 15_000

/**
 * Every partition of a cluster's topic, each read back whole from the
 * broker that leads it. Leadership may still be moving when a test reads,
 * even after every fault healed: a leader that lost its etcd session steps
 * down and leads again once the session is back, and an election takes the
 * lease TTL. So a partition not read whole from its leader of the moment is
 * read again, in rounds, from whichever broker leads it then, until the
 * deadline; each partition's records come from one complete read.
 */
export async function readBackLeaders(opts: ReadBackLeadersOptions): Promise<ReadBackLeadersResult> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
  const read = new Map<number, Stored[]>()
  let missing: ReadBackResult['missing'] = []
  let rounds = 0
  for (;;) {
    rounds++
    for (const url of opts.urls) {
      if (read.size === opts.partitions) break
      const timeoutMs = Math.max(1000, Math.min(LEADER_READ_MS, deadline - Date.now()))
      const back = await readBack({ url, topic: opts.topic, timeoutMs, open: opts.open })
      for (const p of back.partitions) {
        const gaps = back.missing.filter((m) => m.partition === p.partition)
        if (gaps.length > 0) missing = [...missing.filter((m) => m.partition !== p.partition), ...gaps]
        else if (!read.has(p.partition)) read.set(p.partition, back.records.filter((r) => r.partition === p.partition))
      }
    }
    if (read.size === opts.partitions || Date.now() >= deadline) break
    await sleep(LEADERS_RETRY_MS)
  }
  const unread = Array.from({ length: opts.partitions }, (_, p) => p).filter((p) => !read.has(p))
  return { records: [...read.values()].flat(), unread, missing: missing.filter((m) => unread.includes(m.partition)), rounds }
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
