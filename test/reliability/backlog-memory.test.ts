/**
 * Issue 14, item 8: memory taken while a backlog is published is given back
 * when the broker goes idle.
 *
 * A real broker process (2 workers, 4 partitions) takes 1,000,000 confirmed
 * 32-byte messages that nobody consumes, then the client stays connected and
 * silent. Before: RSS went from ~112 to ~206 MiB and was still ~192 MiB after
 * 20 s idle, indefinitely (read caches kept, dead buffers never collected by
 * an idle isolate: broker/memory/idle-release.ts). Now each thread, idle for
 * 10 s after work, empties its read caches and runs a full GC, and RSS comes
 * back to within a few MiB of where it started.
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { BrokerRunner, rssBytes, tempDir, until } from './harness.js'

const MESSAGES = 1_000_000
const MiB = 1024 * 1024

t.test('memory taken by a published backlog is given back once the broker is idle', async (t) => {
  const dataDir = tempDir(t, 'backlog-memory')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const client = await connect(broker.url, { reconnect: false, requestTimeoutMs: 60_000 })
  t.teardown(() => client.close())
  await client.admin.createTopic('backlog', { partitions: 4 })
  const rss = () => (rssBytes(broker.pid) ?? NaN) / MiB
  const atStart = rss()

  const producer = client.producer({ maxInFlight: 2000 })
  const payload = Buffer.alloc(32, 'x')
  let peak = atStart
  for (let sent = 0; sent < MESSAGES; sent += 2000) {
    await Promise.all(Array.from({ length: 2000 }, () => producer.publish('backlog', payload)))
    peak = Math.max(peak, rss())
  }
  const described = await client.admin.describeTopic('backlog')
  t.equal(described.partitionInfo.reduce((n, p) => n + p.endOffset, 0), MESSAGES, `the ${MESSAGES} messages are stored`)
  t.comment(`RSS at start ${atStart.toFixed(0)} MiB, peak while publishing ${peak.toFixed(0)} MiB`)
  // The setting this test is about: publishing a backlog takes memory (about 90 MiB here).
  t.ok(peak - atStart > 40, `publishing took memory (${(peak - atStart).toFixed(0)} MiB)`)

  // Idle: the client stays connected, nothing is sent. Each thread releases 10 s after its last work.
  const back = await until(() => (rss() - atStart < 25 ? rss() : undefined), 40_000)
  const idle = rss()
  t.comment(`RSS after going idle ${idle.toFixed(0)} MiB`)
  t.ok(back !== undefined, `RSS came back to within 25 MiB of the start (${atStart.toFixed(0)} -> ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)})`)

  // The caches are an optimisation only: the backlog is still all there, served from the files.
  const consumer = await client.subscribe('backlog', { group: 'late', from: 'earliest', maxInFlight: 5000 })
  let got = 0
  for await (const m of consumer) {
    m.ack()
    if (++got === 10_000) break
  }
  t.equal(got, 10_000, 'a late group reads the backlog')
})
