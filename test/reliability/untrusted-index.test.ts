/**
 * Issue 14, item 5: the .idx is a hint. One entry of a real index file is
 * made wrong while staying in order, and a group starts right there:
 *
 * - its offset lowered by 5: before, a group starting 3 offsets below the
 *   true entry silently skipped those 3 messages;
 * - its position moved by +100 (into the middle of a batch): before, reading
 *   from it reported damage in an intact batch and skipped its messages.
 *
 * Now the entry's batch is checked before the entry is used; a wrong entry is
 * logged, the index rebuilt from the log, and every message is delivered with
 * no corruption reported.
 */
import t from 'tap'
import fs from 'node:fs'
import { connect, type Client } from '../../clients/index.js'
import { BrokerRunner, tempDir, timeout } from './harness.js'
import { segmentsOf } from './damage.js'

const MESSAGES = 300
/** The entry edited: one in the middle, so recovery (which checks entries from the newest back) keeps it loaded. */
const ENTRY = 3

async function readFrom(client: Client, topic: string, offset: number, expect: number): Promise<number[]> {
  const consumer = await client.subscribe(topic, { group: `from-${offset}`, from: { offset }, maxInFlight: 100 })
  const offsets: number[] = []
  while (offsets.length < expect) {
    const next = await Promise.race([consumer.next(), timeout(5000).then(() => undefined)])
    if (!next || next.done) break
    offsets.push(next.value.offset)
    next.value.ack()
  }
  await consumer.close()
  return offsets
}

t.test('a wrong but ordered index entry neither skips messages nor reports damage', async (t) => {
  const dataDir = tempDir(t, 'untrusted-index')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '1'] })
  t.teardown(() => broker.kill())
  await broker.start()
  let client = await connect(broker.url, { reconnect: false })
  const topics = ['lowered', 'moved']
  for (const topic of topics) await client.admin.createTopic(topic, { partitions: 1 })
  const producer = client.producer()
  // One batch per message (each awaited), ~150 bytes each: an index entry every ~27 batches.
  for (let i = 0; i < MESSAGES; i++) await Promise.all(topics.map((topic) => producer.publish(topic, `m${i}-${'p'.repeat(80)}`)))
  await client.close()
  await broker.stop()

  const entryOf: Record<string, number> = {}
  for (const topic of topics) {
    const idx = segmentsOf(dataDir, topic)[0]!.replace(/\.log$/, '.idx')
    const buf = fs.readFileSync(idx)
    t.ok(buf.length / 8 > ENTRY + 2, `${topic}: the index has ${buf.length / 8} entries`)
    const rel = buf.readUInt32BE(ENTRY * 8)
    t.ok(rel - buf.readUInt32BE((ENTRY - 1) * 8) > 5, 'entries are more than 5 offsets apart, so the edit keeps them in order')
    entryOf[topic] = rel
    if (topic === 'lowered') buf.writeUInt32BE(rel - 5, ENTRY * 8)
    else buf.writeUInt32BE(buf.readUInt32BE(ENTRY * 8 + 4) + 100, ENTRY * 8 + 4)
    fs.writeFileSync(idx, buf)
  }

  await broker.start()
  client = await connect(broker.url, { reconnect: false })
  t.teardown(() => client.close())
  const low = entryOf.lowered! - 3
  t.same(await readFrom(client, 'lowered', low, 30), Array.from({ length: 30 }, (_, i) => low + i), 'a group starting below the true entry gets every message from its start')
  const at = entryOf.moved!
  t.same(await readFrom(client, 'moved', at, 30), Array.from({ length: 30 }, (_, i) => at + i), 'a group starting at the moved entry gets every message from its start')
  for (const topic of topics) {
    t.same((await client.admin.describeTopic(topic)).partitionInfo[0]!.corrupt, [], `${topic}: no damage is reported in an intact log`)
    t.ok(broker.logged('index entry does not match the log').some((l) => l.topic === topic), `${topic}: the wrong entry is logged`)
  }
  t.same(broker.logged('corrupt batch skipped'), [], 'nothing is reported as corrupt')
})
