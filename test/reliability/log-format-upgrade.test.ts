/**
 * Upgrading the broker over a data dir written before the leader epoch loses
 * nothing. test/fixtures/magic1-data-dir was written by the release whose
 * batches are magic 1 (test/fixtures/magic1-data-dir.md says how): 100
 * messages on two partitions over two segments each, and a group `billing`
 * that settled some of them.
 *
 * The current broker, over a copy of it: every message is delivered with its
 * key and headers, `billing` resumes with exactly what it had not settled,
 * new publishes are appended as magic-2 batches after the old ones, and after
 * a restart (graceful, then SIGKILL) both kinds are read again.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect, type Client, type Message } from '../../clients/index.js'
import { readBatchHeader } from '../../protocol/batch.js'
import { LeaderEpochs } from '../../broker/storage/leader-epochs.js'
import { partitionDir } from '../../broker/topic-store.js'
import { BrokerRunner, tempDir, timeout } from './harness.js'
import { segmentsOf } from './damage.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/magic1-data-dir', import.meta.url))
const ACKED: number[] = JSON.parse(fs.readFileSync(FIXTURE + '-billing-acked.json', 'utf8'))
const TOPIC = 'legacy'

/** Take `n` messages from a subscription (acking each), or fewer when none comes for 3 s. */
async function take(client: Client, group: string, n: number): Promise<Message[]> {
  const sub = await client.subscribe(TOPIC, { group, from: 'earliest', maxInFlight: 200 })
  const got: Message[] = []
  const it = sub[Symbol.asyncIterator]()
  while (got.length < n) {
    const next = await Promise.race([it.next(), timeout(3000).then(() => undefined)])
    if (!next || next.done) break
    got.push(next.value)
    next.value.ack()
  }
  await sub.close()
  return got
}

/** The message's `i`, after checking that its key and headers are the ones it was published with. */
function checked(m: Message, problems: string[]): number {
  const { i } = m.decode() as { i: number }
  if (m.key !== `k${i % 4}` || m.headers.seq !== String(i)) problems.push(`i=${i}: key ${m.key}, headers ${JSON.stringify(m.headers)}`)
  return i
}

/** Magic of every batch of every segment of a partition, in log order. */
function magics(dataDir: string, partition: number): number[] {
  return segmentsOf(dataDir, TOPIC, partition).flatMap((file) => {
    const buf = fs.readFileSync(file)
    const out: number[] = []
    for (let at = 0; at < buf.length; ) {
      const h = readBatchHeader(buf, at)
      if (!h) break
      out.push(h.magic)
      at += h.size
    }
    return out
  })
}

t.test('a data dir of magic-1 batches is read in full by the current broker, and continued in magic 2', async (t) => {
  const dataDir = tempDir(t, 'upgrade')
  fs.cpSync(FIXTURE, dataDir, { recursive: true })
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2'] })
  t.teardown(() => broker.kill())
  await broker.start()
  t.same(broker.logged('log tail repaired'), [], 'nothing is repaired')
  t.same(broker.logged('corrupt batch skipped'), [], 'nothing is reported corrupt')

  let client = await connect(broker.url, { reconnect: false })
  const described = await client.admin.describeTopic(TOPIC)
  t.same(described.partitionInfo.map((p) => p.corrupt), [[], []])
  t.equal(described.partitionInfo.reduce((n, p) => n + p.endOffset, 0), 100, 'end offsets: 100 messages')

  const problems: string[] = []
  const everything = (await take(client, 'replay', 100)).map((m) => checked(m, problems))
  t.same([...everything].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i), 'every old message is delivered, once')
  t.same(problems, [], 'with its key and headers')
  const rest = (await take(client, 'billing', 100)).map((m) => checked(m, problems))
  t.same(rest.sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i).filter((i) => !ACKED.includes(i)), 'billing resumes with exactly what it had not settled')

  const producer = client.producer()
  const confirms = await Promise.all(Array.from({ length: 20 }, (_, j) => producer.publish(TOPIC, { i: 100 + j }, { key: `k${j % 4}`, headers: { seq: String(100 + j) } })))
  t.ok(confirms.every((c) => c.offset >= 50), 'new messages continue the offsets')
  await client.close()
  await broker.stop()

  for (const p of [0, 1]) {
    const kinds = magics(dataDir, p)
    const firstNew = kinds.indexOf(2)
    t.ok(firstNew > 0 && kinds.slice(0, firstNew).every((m) => m === 1) && kinds.slice(firstNew).every((m) => m === 2), `partition ${p}: old magic-1 batches, then magic 2 (${kinds.join('')})`)
    t.same(LeaderEpochs.load(partitionDir(dataDir, TOPIC, p)).list(), [{ epoch: 0, startOffset: 0 }], `partition ${p}: the epoch file says epoch 0 from the start`)
  }

  for (const how of ['graceful', 'SIGKILL'] as const) {
    await broker.start()
    client = await connect(broker.url, { reconnect: false })
    const all = (await take(client, `after-${how}`, 120)).map((m) => checked(m, problems))
    t.same(all.sort((a, b) => a - b), Array.from({ length: 120 }, (_, i) => i), `after a ${how} restart both kinds read: all 120`)
    t.same(problems, [])
    await client.close()
    if (how === 'graceful') await broker.stop()
    else await broker.kill()
  }
  t.same(broker.logged('log tail repaired'), [], 'no restart repaired anything')
  t.equal(broker.logged('leader epochs rebuilt from the log').length, 2, 'the epoch file was made once per partition, at the first start')
})
