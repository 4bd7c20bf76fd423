/**
 * Issue 14, item 4: a corrupt last batch is not a torn tail.
 *
 * 100 messages, then 25 confirmed in one batch, the last of the log; the
 * broker is SIGKILLed and one bit of that batch's records is flipped, so all
 * of its bytes are there but its CRC fails. Before: the restart cut it like a
 * torn write, with one log line; describe and skiff_log_corrupt_offsets said
 * 0, and the next publish got offset 100 again, an offset producers had been
 * told belonged to another message.
 *
 * Now: the 100 earlier messages are delivered, the 25 are reported as
 * corrupt offsets 100-125 (describe, `skiff topics describe`, the metric, a
 * log line), nothing is cut, and new messages go to 125 on and are
 * delivered. (A log cut exactly at a batch boundary cannot be detected from
 * the log alone: see broker/storage/tail-damage.ts.)
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { connect } from '../../clients/index.js'
import { BrokerRunner, metricValue, tempDir, timeout, until } from './harness.js'
import { batchesOf, flipBit, segmentsOf } from './damage.js'

const TOPIC = 'victim'
const cli = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))

t.test('a complete last batch that fails its CRC is reported as corrupt offsets, not cut', async (t) => {
  const dataDir = tempDir(t, 'corrupt-last')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '1'] })
  t.teardown(() => broker.kill())
  await broker.start()
  let client = await connect(broker.url, { reconnect: false })
  await client.admin.createTopic(TOPIC, { partitions: 1 })
  const producer = client.producer({ maxInFlight: 100 })
  for (let i = 0; i < 100; i++) await producer.publish(TOPIC, `early-${i}`)
  // One turn, one batch: 25 records confirmed together.
  const confirms = await Promise.all(Array.from({ length: 25 }, (_, i) => producer.publish(TOPIC, `last-${i}-${'x'.repeat(40)}`)))
  t.same(confirms.map((c) => c.offset), Array.from({ length: 25 }, (_, i) => 100 + i), 'the 25 were confirmed at offsets 100-124')
  await client.close()
  await broker.kill()

  const file = segmentsOf(dataDir, TOPIC)[0]!
  const last = batchesOf(file).at(-1)!
  t.equal(last.baseOffset, 100, 'the 25 are the last batch')
  t.equal(last.position + last.size, fs.statSync(file).size, 'and it is complete')
  flipBit(file, last.position + Math.floor(last.size / 2))

  await broker.start()
  client = await connect(broker.url, { reconnect: false })
  t.teardown(() => client.close())
  const consumer = await client.subscribe(TOPIC, { group: 'reader', from: 'earliest', maxInFlight: 200 })
  const got: { offset: number; text: string }[] = []
  for (let i = 0; i < 100; i++) {
    const next = await Promise.race([consumer.next(), timeout(5000).then(() => undefined)])
    if (!next || next.done) break
    got.push({ offset: next.value.offset, text: next.value.payload.toString() })
    next.value.ack()
  }
  t.same(got.map((m) => m.text), Array.from({ length: 100 }, (_, i) => `early-${i}`), 'the 100 earlier messages are delivered')

  const info = (await client.admin.describeTopic(TOPIC)).partitionInfo[0]!
  t.match(info.corrupt, [{ fromOffset: 100, toOffset: 125 }], 'describe reports the 25 offsets as corrupt')
  t.equal(info.corrupt.length, 1)
  t.equal(info.endOffset, 125, 'the log ends after them: nothing was cut')
  t.equal(fs.statSync(file).size, last.position + last.size, 'the damaged batch is still in the file')

  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'topics', 'describe', TOPIC, '--url', broker.url])
  t.match(stdout, /partition 0: corrupt batch at position \d+ \(offsets 100-125\)/, 'skiff topics describe shows the range')
  t.ok(broker.logged('corrupt end of log kept').some((l) => l.topic === TOPIC && l.level === 'warn'), 'a warning names the topic')
  t.notOk(broker.logged('log tail repaired').some((l) => l.topic === TOPIC), 'nothing is logged as a torn tail')
  // Workers sample their gauges once a second.
  const corruptOffsets = await until(async () => {
    const v = metricValue((await broker.metrics()) ?? '', 'skiff_log_corrupt_offsets', { topic: TOPIC })
    return v !== undefined && v > 0 ? v : undefined
  }, 5000)
  t.equal(corruptOffsets, 25, 'skiff_log_corrupt_offsets counts them')
  const summary = broker.logged('partition recovered').filter((l) => l.topic === TOPIC)
  t.match(summary, [{ level: 'warn', partition: 0, segmentsScanned: 1, tornBatchesCut: 0, corruptBatches: 1, corruptOffsets: 25, groupsClamped: 0, groupsReset: 0 }], 'the one recovery line of the partition says so')
  const metrics = (await broker.metrics()) ?? ''
  t.equal(metricValue(metrics, 'skiff_recovery_corrupt_batches_total', { topic: TOPIC }), 1, 'skiff_recovery_corrupt_batches_total counts the batch')
  t.equal(metricValue(metrics, 'skiff_recovery_segments_scanned_total', { topic: TOPIC }), 1, 'skiff_recovery_segments_scanned_total the segment read')
  t.equal(metricValue(metrics, 'skiff_recovery_torn_batches_total', { topic: TOPIC }), 0, 'and nothing is counted as torn')

  const after = await Promise.all(Array.from({ length: 5 }, (_, i) => client.producer().publish(TOPIC, `after-${i}`)))
  t.same(after.map((c) => c.offset).sort((a, b) => a - b), [125, 126, 127, 128, 129], 'new messages never take a corrupt batch\'s offsets')
  const later: string[] = []
  for (let i = 0; i < 5; i++) {
    const next = await Promise.race([consumer.next(), timeout(5000).then(() => undefined)])
    if (!next || next.done) break
    later.push(next.value.payload.toString())
    next.value.ack()
  }
  t.same(later.sort(), ['after-0', 'after-1', 'after-2', 'after-3', 'after-4'], 'and are delivered to the group')
  await consumer.close()
})
