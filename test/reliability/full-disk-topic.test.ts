/**
 * Issue 14, item 6: creating a topic on a full disk.
 *
 * Before: a PUBLISH that auto-created a topic on a full disk was answered
 * INTERNAL and left a directory without topic.json, which every later start
 * warned about. Now: STORAGE_FULL (retriable), nothing left behind, the
 * creation works once there is space, and a restart warns about nothing.
 *
 * And what older brokers left behind (a crash between the mkdir and the
 * rename of topic.json): a topic directory without topic.json and without a
 * message is removed at the first start, with one warning, and never
 * mentioned again; one whose partitions hold messages is kept and reported
 * at every start (broker/topic-store.ts says why).
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { connect, isSkiffError } from '../../clients/index.js'
import { BrokerRunner, tempDir } from './harness.js'
import { fillUp, mountSmallFs } from './small-fs.js'

const small = mountSmallFs('full-disk-topic')
t.teardown(() => small.remove())

/** Topic directories that have no topic.json. */
function orphans(dataDir: string): string[] {
  const topics = path.join(dataDir, 'topics')
  if (!fs.existsSync(topics)) return []
  return fs.readdirSync(topics).filter((d) => !fs.existsSync(path.join(topics, d, 'topic.json')))
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    return isSkiffError(err) ? err.codeName : String(err)
  }
}

const IGNORED = 'topic directory without a readable topic.json is ignored'

t.test('auto-creating a topic on a full disk answers STORAGE_FULL and leaves nothing behind', { skip: small.problem ? `needs a small filesystem the test can mount (${small.problem})` : false }, async (t) => {
  const dataDir = path.join(small.dir!, 'data')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '1'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const client = await connect(broker.url, { reconnect: false, requestTimeoutMs: 10_000 })
  t.teardown(() => client.close())
  const producer = client.producer()
  await producer.publish('before', 'the disk still had room')

  const filler = path.join(small.dir!, 'filler')
  fillUp(filler)
  t.equal(await codeOf(producer.publish('fresh', 'nowhere to go')), 'STORAGE_FULL', 'a publish that would create a topic gets STORAGE_FULL')
  t.equal(await codeOf(client.admin.createTopic('made', { partitions: 2 })), 'STORAGE_FULL', 'and so does TOPIC_CREATE')
  t.same(orphans(dataDir), [], 'no topic directory without topic.json is left behind')
  t.notOk((await client.admin.listTopics()).some((x) => x.topic === 'fresh' || x.topic === 'made'), 'the topics do not exist')

  fs.rmSync(filler)
  t.equal(await codeOf(producer.publish('fresh', 'room again')), 'ok', 'with space back, the same publish creates the topic')
  t.equal(await codeOf(client.admin.createTopic('made', { partitions: 2 })), 'ok', 'and TOPIC_CREATE works')

  await client.close()
  await broker.stop()
  await broker.start()
  t.same(broker.runLines.filter((l) => l.msg === IGNORED), [], 'a restart warns about no topic directory')
})

t.test('a topic directory left without topic.json by an older crash is removed once, or kept and reported when it holds messages', async (t) => {
  const dataDir = tempDir(t, 'orphan-topics')
  const topics = path.join(dataDir, 'topics')
  // A crash between mkdir and rename: the directory and a temp file.
  fs.mkdirSync(path.join(topics, 'ghost'), { recursive: true })
  fs.writeFileSync(path.join(topics, 'ghost', 'topic.json.123.1.1700000000000.tmp'), '{"topic":"gh')
  // A topic whose partition was opened but never written, then lost its topic.json.
  fs.mkdirSync(path.join(topics, 'empty', '0'), { recursive: true })
  fs.writeFileSync(path.join(topics, 'empty', '0', '00000000000000000000.log'), '')
  // Messages without a topic.json: never deleted.
  fs.mkdirSync(path.join(topics, 'kept', '0'), { recursive: true })
  fs.writeFileSync(path.join(topics, 'kept', '0', '00000000000000000000.log'), Buffer.alloc(100, 1))

  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '1'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const removed = broker.runLines.filter((l) => String(l.msg).startsWith('unfinished topic creation removed')).map((l) => l.topic).sort()
  t.same(removed, ['empty', 'ghost'], 'the unfinished creations are removed, each with one warning')
  t.same(fs.readdirSync(topics).sort(), ['kept'], 'their directories are gone')
  t.same(broker.runLines.filter((l) => l.msg === IGNORED).map((l) => l.topic), ['kept'], 'a directory with messages is kept and reported')
  await broker.stop()

  await broker.start()
  t.same(broker.runLines.filter((l) => String(l.msg).startsWith('unfinished topic creation removed')), [], 'the next start has nothing to remove')
  t.same(broker.runLines.filter((l) => l.msg === IGNORED).map((l) => l.topic), ['kept'], 'and reports only the directory with messages')
  t.equal(fs.statSync(path.join(topics, 'kept', '0', '00000000000000000000.log')).size, 100, 'whose messages are untouched')
})
