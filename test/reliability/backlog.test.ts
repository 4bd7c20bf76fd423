/**
 * Backlog: a large number of unconsumed 1 KiB messages. The log is on disk,
 * not in the heap, so the broker's resident memory (VmRSS of its process)
 * must not grow with the backlog; then a consumer drains all of it, in order.
 *
 * The issue asks for 1,000,000 messages (about 1 GiB written with fsync).
 * CI runs SKIFF_BACKLOG_COUNT (default 300,000, about 300 MiB); the full
 * million is the manual run (results in bench/soak/RESULTS.md):
 *   SKIFF_BACKLOG_COUNT=1000000 npx tap test/reliability/backlog.test.ts
 *
 * How "flat" is judged: RSS moves by tens of MiB with garbage collection in
 * three V8 heaps (gateway and two workers), whatever the backlog. For each
 * phase (publishing, draining) the baseline is the highest RSS seen during
 * its first tenth; for the rest of the phase RSS must stay within 70% of the
 * bytes moved since (and within 192 MiB) of it. A broker that kept the log
 * (or what was read of it) in memory would grow by all of them. Measured
 * here: publishing stays within ±30 MiB of its baseline; draining climbs by
 * 50-100 MiB to a plateau (about 350-400 MiB) that a million messages do not
 * raise (bench/soak/RESULTS.md).
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { BrokerRunner, rssBytes, tempDir } from './harness.js'

const COUNT = Math.max(40_000, Number(process.env.SKIFF_BACKLOG_COUNT) || 300_000)
const SIZE = 1024
const TOPIC = 'backlog'
const PARTITIONS = 2
const MiB = 1024 * 1024

t.test(`${COUNT} unconsumed 1 KiB messages: broker memory stays flat, then a consumer drains them`, { timeout: 30 * 60_000 }, async (t) => {
  const dataDir = tempDir(t, 'backlog')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const client = await connect(broker.url, { reconnect: false, requestTimeoutMs: 120_000 })
  t.teardown(() => client.close())
  await client.admin.createTopic(TOPIC, { partitions: PARTITIONS })
  // A group that exists but reads nothing: the backlog is unconsumed, not merely unread.
  const idle = await client.subscribe(TOPIC, { group: 'drain', from: 'earliest', maxInFlight: 1 })
  await idle.close()

  const samples: { at: number; rss: number }[] = []
  const sample = (at: number) => {
    const rss = rssBytes(broker.pid) ?? NaN
    samples.push({ at, rss })
    return rss
  }
  const producer = client.producer({ maxInFlight: 4000 })
  const payload = Buffer.alloc(SIZE, 'x')
  const WINDOW = 4000
  const tenth = Math.floor(COUNT / 10)
  let baseline = 0
  let peak = 0
  for (let sent = 0; sent < COUNT; ) {
    const n = Math.min(WINDOW, COUNT - sent)
    const from = sent
    await Promise.all(
      Array.from({ length: n }, (_, k) => {
        payload.writeUInt32BE(from + k, 0) // each message names its sequence number
        return producer.publish(TOPIC, Buffer.from(payload), { key: `k${(from + k) % PARTITIONS}` })
      }),
    )
    const rss = sample(sent + n)
    if (sent < tenth) baseline = Math.max(baseline, rss)
    else peak = Math.max(peak, rss)
    sent += n
  }
  const written = (COUNT - tenth) * SIZE
  const bound = Math.min(192 * MiB, written * 0.7)
  const mib = (x: number) => `${(x / MiB).toFixed(0)} MiB`
  t.ok(peak - baseline < bound, `publishing: RSS peaked at ${mib(peak)} against ${mib(baseline)} during the first tenth (${mib(written)} written since; bound +${mib(bound)})`)

  const consumer = await client.subscribe(TOPIC, { group: 'drain', from: 'earliest', maxInFlight: 2000 })
  const nextOffset = new Map<number, number>()
  let got = 0
  let outOfOrder = 0
  let drainBaseline = 0
  let drainPeak = 0
  // A watchdog instead of a timer per read: no progress for 10 s (or the overall bound) ends the drain.
  let seen = -1
  const watchdog = setInterval(() => {
    if (got === seen || Date.now() > deadline) void consumer.close()
    seen = got
  }, 10_000)
  const deadline = Date.now() + 25 * 60_000
  try {
    for await (const m of consumer) {
      if ((nextOffset.get(m.partition) ?? 0) !== m.offset) outOfOrder++
      nextOffset.set(m.partition, m.offset + 1)
      m.ack()
      if (++got % WINDOW === 0) {
        const rss = sample(COUNT + got)
        if (got <= tenth) drainBaseline = Math.max(drainBaseline, rss)
        else drainPeak = Math.max(drainPeak, rss)
      }
      if (got === COUNT) break
    }
  } finally {
    clearInterval(watchdog)
  }
  t.equal(got, COUNT, 'the consumer drained the whole backlog')
  t.equal(outOfOrder, 0, 'each partition in offset order, nothing skipped')
  t.ok(drainPeak - drainBaseline < bound, `draining: RSS peaked at ${mib(drainPeak)} against ${mib(drainBaseline)} during the first tenth`)
  const g = await client.admin.describeGroup(TOPIC, 'drain')
  t.ok(g.partitions.every((p) => p.lag === 0 || p.inFlight > 0), 'the group caught up')
  const every = Math.max(1, Math.floor(samples.length / 40))
  t.comment(`RSS over time (messages published, then published + drained: MiB): ${samples.filter((_, i) => i % every === 0).map((s) => `${s.at}:${(s.rss / MiB).toFixed(0)}`).join(' ')}`)
})
