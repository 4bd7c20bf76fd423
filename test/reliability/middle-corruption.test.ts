/**
 * Corruption in the middle of a log, through a real broker restart: one bit
 * flipped in a batch that is not the tail. Cases, each its own topic in one
 * data dir so one restart covers them all:
 *
 * - every byte of the middle batch of an active segment (found by the
 *   recovery scan at start);
 * - a sample of bytes (each header field, the records) of a middle batch of
 *   a closed segment (found when a read reaches it).
 *
 * For each: the CRC check catches it; every good batch after it is still
 * delivered; the damaged offsets are reported in `describe` (and by
 * `skiff topics describe`), in a log line naming the topic, and in a metric
 * when this build has one; new publishes continue after the end of the log.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { connect, type Client } from '../../clients/index.js'
import { BrokerRunner, inParallel, tempDir, timeout } from './harness.js'
import { batchesOf, flipBit, segmentsOf } from './damage.js'

const RECORDS = 10
const cli = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))

async function readFirst(client: Client, topic: string, expect: number): Promise<string[]> {
  const consumer = await client.subscribe(topic, { group: 'reader', from: 'earliest', maxInFlight: 100 })
  const out: string[] = []
  while (out.length < expect) {
    const next = await Promise.race([consumer.next(), timeout(5000).then(() => undefined)])
    if (!next || next.done) break
    out.push(next.value.payload.toString().split(':')[0]!)
    next.value.ack()
  }
  await consumer.close()
  return out
}

interface Case {
  topic: string
  /** Offset of the damaged batch (one record per batch). */
  victim: number
  /** Byte of that batch to flip (negative: from its end). */
  at: number
  closedSegment: boolean
}

t.test('a flipped bit in a middle batch is detected, reported and skipped; the rest is served', async (t) => {
  const dataDir = tempDir(t, 'middle')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2'] })
  t.teardown(() => broker.kill())
  await broker.start(['--fsync', 'never'])
  let client = await connect(broker.url)
  const probeWriter = client.producer()
  for (let i = 0; i < RECORDS; i++) await probeWriter.publish('probe', `r${i}`)
  const size = batchesOf(segmentsOf(dataDir, 'probe')[0]!)[0]!.size

  const cases: Case[] = []
  for (let at = 0; at < size; at++) cases.push({ topic: `active-${at}`, victim: 5, at, closedSegment: false })
  // Header fields: baseOffset, length, crc, magic, attributes, count, timestamp, producerId, sequence; then records.
  for (const at of [0, 7, 8, 11, 12, 15, 16, 17, 20, 24, 32, 40, 44, 600, -1]) cases.push({ topic: `closed-${at < 0 ? 'last' : at}`, victim: 4, at, closedSegment: true })
  // Closed-segment cases: ~1.3 KiB records, three to a 4 KiB segment (the smallest allowed), so
  // offset 4 is the middle batch of the second segment.
  const padding = ':' + 'x'.repeat(1200)
  for (const c of cases) await client.admin.createTopic(c.topic, c.closedSegment ? { segmentBytes: 4096 } : {})
  const writer = client.producer({ maxInFlight: 5000 })
  for (let i = 0; i < RECORDS; i++) await Promise.all(cases.map((c) => writer.publish(c.topic, c.closedSegment ? `r${i}${padding}` : `r${i}`)))
  await client.close()
  await broker.stop()

  const layout: string[] = []
  for (const c of cases) {
    const segments = segmentsOf(dataDir, c.topic)
    const file = c.closedSegment ? segments[1]! : segments[0]!
    const batch = batchesOf(file).find((b) => b.baseOffset === c.victim)
    if (!batch || (!c.closedSegment && batch.size !== size) || (c.closedSegment && (segments.length < 3 || batch.position === 0 || c.at >= batch.size))) {
      layout.push(c.topic)
    }
    else flipBit(file, batch.position + (c.at < 0 ? batch.size + c.at : c.at))
  }
  t.same(layout, [], 'every case has the expected layout')

  await broker.start()
  client = await connect(broker.url)
  t.teardown(() => client.close())
  const wrong: string[] = []
  const unreported: string[] = []
  const badOffsets: string[] = []
  await inParallel(cases, 16, async (c) => {
    const want = Array.from({ length: RECORDS }, (_, i) => `r${i}`).filter((_, i) => i !== c.victim)
    const got = await readFirst(client, c.topic, want.length)
    if (got.join() !== want.join()) wrong.push(`${c.topic}: ${got.join(',')}`)
    const corrupt = (await client.admin.describeTopic(c.topic)).partitionInfo[0]!.corrupt
    if (corrupt.length !== 1 || corrupt[0]!.fromOffset !== c.victim || corrupt[0]!.toOffset !== c.victim + 1) {
      unreported.push(`${c.topic}: ${JSON.stringify(corrupt)}`)
    }
    const { offset } = await client.producer().publish(c.topic, 'after')
    if (offset !== RECORDS) badOffsets.push(`${c.topic}: ${offset}`)
  })
  t.same(wrong, [], `every good batch is delivered, before and after the damage (${cases.length} cases)`)
  t.same(unreported, [], 'describe reports exactly the damaged offset')
  t.same(badOffsets, [], 'new publishes go after the end of the log')

  const logged = new Set(broker.logged('corrupt batch skipped').map((l) => String(l.topic)))
  t.same(cases.filter((c) => !logged.has(c.topic)).map((c) => c.topic), [], 'each damage is logged, naming its topic')
  t.notOk(logged.has('probe'), 'an undamaged log reports nothing')
  t.notOk(broker.logged('log tail repaired').some((l) => cases.some((c) => c.topic === l.topic)), 'damage in the middle does not cut the log')

  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'topics', 'describe', 'closed-12', '--url', broker.url])
  t.match(stdout, /partition 0: corrupt batch at position \d+ \(offsets 4-5\)/, 'skiff topics describe shows the damaged range')

  // Workers sample their gauges once a second: wait (bounded) for a sample taken after the reads above.
  let damaged: string[] = []
  for (const until = Date.now() + 5000; damaged.length === 0 && Date.now() < until; ) {
    const metrics = (await broker.metrics()) ?? ''
    damaged = metrics.split('\n').filter((l) => l.startsWith('skiff_log_corrupt_offsets{') && !/\s0$/.test(l))
    if (damaged.length === 0) await new Promise((r) => setTimeout(r, 250))
  }
  t.ok(damaged.length > 0, `skiff_log_corrupt_offsets counts the damage: ${damaged.slice(0, 3).join('; ')}`)
})
