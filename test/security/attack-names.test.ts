/**
 * Issue 13, item 10 (names):
 * - group names of 245-249 characters passed the name check, but the state
 *   file `<group>.state.prev` is 11 bytes longer and overflowed the 255-byte
 *   file name limit: the position was never saved again, and the group failed
 *   after a restart. Group names are now at most 200 characters
 *   (protocol/names.ts), and a 200-character group keeps its position across
 *   a restart;
 * - subscribing to `q.dlq` created `q` (and a chain of `.dlq` names created
 *   every link). Now a missing origin is UNKNOWN_TOPIC and nothing is created;
 *   an existing origin gets its dead-letter topic;
 * - topic names keep their 249 characters; the dead-letter topic of a
 *   249-character topic (253) is the broker's own and survives a restart.
 */
import t from 'tap'
import fs from 'node:fs'
import { Op, decodeDeliver, encodeAck, encodePublish, encodeRecord, encodeSubscribe, encodeTopicList, type Frame } from '../../protocol/index.js'
import { startBroker, type RunningBroker } from '../../broker/index.js'
import { RawPeer, answer, tempDir, until } from './helpers.js'

const record = (s: string) => encodeRecord({ payload: Buffer.from(s) })

/** A broker on port 0 over `dataDir`, which outlives it (so a second broker can start on the same data). */
async function broker(t: { teardown(fn: () => unknown): void }, dataDir: string): Promise<RunningBroker> {
  const b = await startBroker({ port: 0, workers: 1, logLevel: 'silent', dataDir, groupCommitMs: 20 })
  t.teardown(() => b.close())
  return b
}

async function topics(p: RawPeer, corr: number): Promise<string[]> {
  p.write(encodeTopicList(corr))
  return ((await answer(p, corr)).result as { topic: string }[]).map((x) => x.topic)
}

const offsetsIn = (frames: Frame[], sub: number) =>
  frames.filter((f) => f.opcode === Op.DELIVER).flatMap((f) => {
    const d = decodeDeliver(f.body)
    return d.sub === sub ? d.messages.map((m) => m[1]) : []
  })

t.test('group names are at most 200 characters, and a 200-character group keeps its position', async (t) => {
  const dataDir = tempDir(t, 'skiff-names-')
  const first = await broker(t, dataDir)
  const p = await RawPeer.ready(first.port)
  for (const length of [201, 245, 249]) {
    p.write(encodeSubscribe({ corr: length, sub: length, topic: 'q', group: 'g'.repeat(length), start: 'earliest', maxInFlight: 10 }))
    const a = await answer(p, length)
    t.match(a, { ok: false, error: 'INVALID_REQUEST' }, `a ${length}-character group is refused`)
    t.match(p.errors().find((e) => e.corr === length)?.message, /group name "g+" must be 1-200 characters/, 'and told why')
  }
  const group = 'g'.repeat(200)
  p.write(encodeSubscribe({ corr: 1, sub: 1, topic: 'q', group, start: 'earliest', maxInFlight: 10 }))
  t.match(await answer(p, 1), { ok: true }, 'a 200-character group subscribes')
  p.write(encodePublish({ corr: 2, topic: 'q', count: 3, records: Buffer.concat([record('a'), record('b'), record('c')]), confirm: true }))
  t.match(await answer(p, 2), { ok: true })
  await until(() => offsetsIn(p.frames, 1).length === 3, 5000)
  t.same(offsetsIn(p.frames, 1), [0, 1, 2])
  // Acked in two rounds, so the state file is replaced (the `.prev` rename that used to fail).
  p.write(encodeAck({ sub: 1, kind: 'ack', ranges: [0, 0, 2] }))
  await new Promise((r) => setTimeout(r, 100))
  p.write(encodeAck({ sub: 1, kind: 'ack', ranges: [0, 2, 1] }))
  await new Promise((r) => setTimeout(r, 100))
  p.end()
  await first.close()
  const files = fs.readdirSync(`${dataDir}/topics/q/0/groups`)
  t.ok(files.includes(`${group}.state`) && files.includes(`${group}.state.prev`), 'its state and previous state files exist')

  const second = await broker(t, dataDir)
  const again = await RawPeer.ready(second.port)
  t.teardown(() => again.end())
  again.write(encodePublish({ corr: 3, topic: 'q', count: 1, records: record('d'), confirm: true }))
  t.match(await answer(again, 3), { ok: true })
  again.write(encodeSubscribe({ corr: 4, sub: 1, topic: 'q', group, start: 'earliest', maxInFlight: 10 }))
  t.match(await answer(again, 4), { ok: true })
  await until(() => offsetsIn(again.frames, 1).length > 0, 5000)
  await new Promise((r) => setTimeout(r, 200)) // anything else would come with it or just after
  t.same(offsetsIn(again.frames, 1), [3], 'after a restart only the new message comes: the position was saved')
})

t.test('subscribing to q.dlq creates nothing while q does not exist', async (t) => {
  const dataDir = tempDir(t, 'skiff-names-')
  const b = await broker(t, dataDir)
  const p = await RawPeer.ready(b.port)
  t.teardown(() => p.end())
  p.write(encodeSubscribe({ corr: 1, sub: 1, topic: 'q.dlq', group: 'ops', start: 'earliest', maxInFlight: 10 }))
  t.match(await answer(p, 1), { ok: false, error: 'UNKNOWN_TOPIC', details: { topic: 'q.dlq' } })
  t.same(await topics(p, 2), [], 'neither q nor q.dlq was created')

  p.write(encodePublish({ corr: 3, topic: 'q', count: 1, records: record('poison'), confirm: true }))
  t.match(await answer(p, 3), { ok: true }, 'q exists once published to')
  p.write(encodeSubscribe({ corr: 4, sub: 2, topic: 'q.dlq', group: 'ops', start: 'earliest', maxInFlight: 10 }))
  t.match(await answer(p, 4), { ok: true }, 'now q.dlq may be read before its first dead letter')
  t.same((await topics(p, 5)).sort(), ['q', 'q.dlq'])
  p.write(encodeSubscribe({ corr: 6, sub: 3, topic: 'q', group: 'work', start: 'earliest', maxInFlight: 10 }))
  t.match(await answer(p, 6), { ok: true })
  t.ok(await until(() => offsetsIn(p.frames, 3).length === 1, 5000), 'q delivers the message')
  p.write(encodeAck({ sub: 3, kind: 'term', ranges: [0, 0, 1] }))
  t.ok(await until(() => offsetsIn(p.frames, 2).length === 1, 5000), 'the dead letter arrives on q.dlq')

  // An origin being created by a SUBSCRIBE pipelined just before is waited for.
  p.write(encodeSubscribe({ corr: 7, sub: 4, topic: 'fresh', group: 'g', start: 'earliest', maxInFlight: 1 }))
  p.write(encodeSubscribe({ corr: 8, sub: 5, topic: 'fresh.dlq', group: 'g', start: 'earliest', maxInFlight: 1 }))
  t.match(await answer(p, 7), { ok: true })
  t.match(await answer(p, 8), { ok: true }, 'fresh.dlq, pipelined after fresh')
})

t.test('a 249-character topic: its dead-letter topic (253) is the broker\'s, and survives a restart', async (t) => {
  const dataDir = tempDir(t, 'skiff-names-')
  const first = await broker(t, dataDir)
  const topic = 't'.repeat(249)
  const p = await RawPeer.ready(first.port)
  p.write(encodeSubscribe({ corr: 1, sub: 1, topic, group: 'g', start: 'earliest', maxInFlight: 10 }))
  t.match(await answer(p, 1), { ok: true })
  p.write(encodeSubscribe({ corr: 2, sub: 2, topic: `${topic}.dlq`, group: 'g', start: 'earliest', maxInFlight: 10 }))
  t.match(await answer(p, 2), { ok: false, error: 'INVALID_REQUEST' }, 'a client cannot name 253 characters')
  p.write(encodePublish({ corr: 3, topic, count: 1, records: record('poison'), confirm: true }))
  t.match(await answer(p, 3), { ok: true })
  t.ok(await until(() => offsetsIn(p.frames, 1).length === 1, 5000), 'delivered')
  p.write(encodeAck({ sub: 1, kind: 'term', ranges: [0, 0, 1] }))
  let listed: string[] = []
  for (let i = 0; i < 100 && !listed.includes(`${topic}.dlq`); i++) {
    await new Promise((r) => setTimeout(r, 50))
    listed = await topics(p, 100 + i)
  }
  t.ok(listed.includes(`${topic}.dlq`), 'dead-lettered into the 253-character topic')
  p.end()
  await first.close()
  const second = await broker(t, dataDir)
  const again = await RawPeer.ready(second.port)
  t.teardown(() => again.end())
  t.same((await topics(again, 1)).sort(), [topic, `${topic}.dlq`], 'both are still there after a restart')
})
