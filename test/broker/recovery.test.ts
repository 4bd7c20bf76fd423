/**
 * Recovery through the whole broker: a segment whose last batch is torn is
 * cut back at start, and the next publish takes the torn batch's offset (it
 * was never confirmed: its fdatasync had not completed). A last batch with a
 * flipped byte is complete, so it is corruption, not a torn write: it is
 * kept and skipped, and its offset is never given to a new message. Either
 * way every earlier record is still delivered.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { connect } from '../../clients/index.js'
import { startBroker } from '../../broker/index.js'
import { partitionDir } from '../../broker/topic-store.js'

async function publishEach(port: number, n: number): Promise<void> {
  const client = await connect(`skiff://127.0.0.1:${port}`)
  const producer = client.producer()
  // One awaited publish at a time: one batch per record on disk.
  for (let i = 0; i < n; i++) await producer.publish('rec', `r${i}`)
  await client.close()
}

async function readAll(port: number, expect: number): Promise<string[]> {
  const client = await connect(`skiff://127.0.0.1:${port}`)
  const consumer = await client.subscribe('rec', { group: `g${Date.now()}`, from: 'earliest', maxInFlight: 100 })
  const out: string[] = []
  const it = consumer[Symbol.asyncIterator]()
  while (out.length < expect) {
    const next = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), 1500))])
    if (!next || next.done) break
    out.push(next.value.payload.toString())
    next.value.ack()
  }
  await client.close()
  return out
}

const damages: Record<string, { damage: (file: string) => void; next: number; why: string }> = {
  'torn mid-batch': { damage: (file) => fs.truncateSync(file, fs.statSync(file).size - 7), next: 9, why: 'the next publish takes the torn batch offset' },
  'flipped byte': {
    damage: (file) => {
      const b = fs.readFileSync(file)
      b[b.length - 3] ^= 0x40
      fs.writeFileSync(file, b)
    },
    next: 10,
    why: 'the next publish never takes the corrupt batch offset',
  },
}

for (const [name, { damage, next, why }] of Object.entries(damages)) {
  t.test(`a last batch ${name}: every earlier record is delivered after a restart`, async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-recovery-'))
    t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
    const opts = { port: 0, dataDir, workers: 1, logLevel: 'silent' as const }
    let broker = await startBroker(opts)
    await publishEach(broker.port, 10)
    await broker.close()

    const dir = partitionDir(dataDir, 'rec', 0)
    const segment = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().at(-1)!
    damage(path.join(dir, segment))

    broker = await startBroker(opts)
    t.teardown(() => broker.close())
    t.same(await readAll(broker.port, 10), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8'], 'every record before the damaged batch is delivered')
    const client = await connect(`skiff://127.0.0.1:${broker.port}`)
    const { offset } = await client.producer().publish('rec', 'after')
    t.equal(offset, next, why)
    await client.close()
  })
}

t.test('retention deletes old segments and consumers start after them', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-retention-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const broker = await startBroker({ port: 0, dataDir, workers: 1, logLevel: 'silent', retentionCheckMs: 100 })
  t.teardown(() => broker.close())
  const client = await connect(`skiff://127.0.0.1:${broker.port}`)
  t.teardown(() => client.close())
  await client.admin.createTopic('rec', { partitions: 1, segmentBytes: 4096, retentionBytes: 8192 })
  const producer = client.producer()
  const payload = Buffer.alloc(500, 1)
  for (let i = 0; i < 100; i++) await producer.publish('rec', payload)
  const dir = partitionDir(dataDir, 'rec', 0)
  const deadline = Date.now() + 5000
  let info = await client.admin.describeTopic('rec')
  // Retention runs on a 100 ms timer: wait for a run after the last publish.
  while (info.partitionInfo[0]!.bytes > 8192 + 4096 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    info = await client.admin.describeTopic('rec')
  }
  const p0 = info.partitionInfo[0]!
  t.ok(p0.startOffset > 0, `old segments deleted: the log now starts at ${p0.startOffset}`)
  t.equal(p0.endOffset, 100)
  t.ok(p0.bytes <= 8192 + 4096, `size ${p0.bytes} stays within the limit plus one segment`)
  t.ok(fs.readdirSync(dir).filter((f) => f.endsWith('.log')).length <= 3, 'few segment files remain')
  const consumer = await client.subscribe('rec', { group: 'late', from: 'earliest', maxInFlight: 10 })
  const first = await consumer[Symbol.asyncIterator]().next()
  t.equal(first.value?.offset, p0.startOffset, 'an earliest consumer starts at the first kept offset')
  await consumer.close()
})
