/**
 * Large PUBLISH frames over a real socket: a frame the gateway assembled
 * from several reads, or a part it gathered from several keys, lies alone in
 * its buffer and goes to the worker without a copy (handlers/publish.ts);
 * a frame that shares a socket read with the next frames is copied, and the
 * frames after it must still be read whole. Each case reads every record
 * back, byte for byte, with its key and offset.
 */
import t from 'tap'
import { Op, decodeError, decodePublishAck, encodePublish, encodeRecord, type PublishAck } from '../../protocol/index.js'
import { RawPeer } from '../broker/raw-peer.js'
import { Reader, startTestBroker, type TestBroker } from './helpers.js'

/** A payload whose every byte says which record and where it is. */
function payload(tag: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (tag * 131 + i * 7) & 0xff
  return b
}

interface Sent {
  key: string | undefined
  payload: Buffer
}

function publishFrame(corr: number, topic: string, sent: Sent[]): Buffer {
  const records = Buffer.concat(sent.map((s) => encodeRecord({ key: s.key, payload: s.payload })))
  return encodePublish({ corr, topic, count: sent.length, records, confirm: true })
}

async function acks(peer: RawPeer, corrs: number[]): Promise<Map<number, PublishAck>> {
  const out = new Map<number, PublishAck>()
  for (const corr of corrs) {
    const f = await peer.waitFor((x) => (x.opcode === Op.PUBLISH_ACK && decodePublishAck(x.body).corr === corr) || (x.opcode === Op.ERROR && decodeError(x.body).corr === corr), 10_000)
    if (!f) throw new Error(`no answer to PUBLISH ${corr}`)
    if (f.opcode === Op.ERROR) throw new Error(`PUBLISH ${corr}: ${decodeError(f.body).name} ${decodeError(f.body).message}`)
    out.set(corr, decodePublishAck(f.body))
  }
  return out
}

/** Every record of `topic`, read from the start by a fresh group, by partition in offset order. */
async function readAll(tb: TestBroker, topic: string, n: number): Promise<Map<number, { offset: number; key: string | undefined; payload: Buffer }[]>> {
  const client = await tb.client()
  const reader = new Reader(await client.subscribe(topic, { group: `check-${topic}`, from: 'earliest' }))
  const byPartition = new Map<number, { offset: number; key: string | undefined; payload: Buffer }[]>()
  for (const m of await reader.take(n, 10_000)) {
    let list = byPartition.get(m.partition)
    if (!list) byPartition.set(m.partition, (list = []))
    list.push({ offset: m.offset, key: m.key, payload: Buffer.from(m.payload) })
    m.ack()
  }
  for (const list of byPartition.values()) list.sort((a, b) => a.offset - b.offset)
  return byPartition
}

for (const workers of [1, 3]) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('a frame arriving over several reads, then a small one in the same write: both stored whole', async (t) => {
      const peer = await RawPeer.ready(tb.broker.port)
      t.teardown(() => peer.end())
      const big: Sent[] = Array.from({ length: 3 }, (_, i) => ({ key: undefined, payload: payload(i, 65_536) }))
      const small: Sent[] = [{ key: undefined, payload: payload(9, 100) }]
      const bytes = Buffer.concat([publishFrame(1, 'assembled', big), publishFrame(2, 'assembled', small)])
      // Written in pieces with pauses, so the broker reads the large frame in several chunks.
      for (let at = 0; at < bytes.length; at += 50_000) {
        peer.write(bytes.subarray(at, at + 50_000))
        await new Promise((r) => setTimeout(r, 5))
      }
      const got = await acks(peer, [1, 2])
      t.same([got.get(1)!.offset, got.get(2)!.offset], [0, 3], 'confirmed at offsets 0 and 3')
      const read = (await readAll(tb, 'assembled', 4)).get(0)!
      t.same(read.map((r) => r.offset), [0, 1, 2, 3])
      t.ok(read.every((r, i) => r.payload.equals([...big, ...small][i]!.payload)), 'every payload byte for byte')
    })

    t.test('large frames sharing socket reads with the frames after them: each stored whole', async (t) => {
      // Made first: a publish to an existing topic is handed to the worker in the turn it is read.
      await (await tb.client()).admin.createTopic('shared')
      const peer = await RawPeer.ready(tb.broker.port)
      t.teardown(() => peer.end())
      // Five 40 KB frames written in pieces of 50,000 bytes with pauses: a read holds one
      // whole frame and the start of the next, which is completed by a later read, after the
      // worker was handed the first (were that read given to the worker, the next frame's
      // start would go with it).
      const frames = Array.from({ length: 5 }, (_, f) => [{ key: undefined, payload: payload(100 + f, 40_000) }] as Sent[])
      const bytes = Buffer.concat(frames.map((sent, f) => publishFrame(10 + f, 'shared', sent)))
      for (let at = 0; at < bytes.length; at += 50_000) {
        peer.write(bytes.subarray(at, at + 50_000))
        await new Promise((r) => setTimeout(r, 5))
      }
      const got = await acks(peer, [10, 11, 12, 13, 14])
      t.same([...got.values()].map((a) => a.offset), [0, 1, 2, 3, 4])
      const read = (await readAll(tb, 'shared', 5)).get(0)!
      t.ok(read.every((r, i) => r.payload.equals(frames[i]![0]!.payload)), 'every payload byte for byte')
      t.notOk(peer.closed, 'the connection is still open: no frame after a large one was lost')
    })

    t.test('keyed records gathered into one part per partition: each part stored whole, keys kept', async (t) => {
      const client = await tb.client()
      await client.admin.createTopic('keyed-large', { partitions: 4 })
      const peer = await RawPeer.ready(tb.broker.port)
      t.teardown(() => peer.end())
      // 24 records of 20 KB over 12 keys: each partition's part is well past the 32 KiB a transfer needs.
      const sent: Sent[] = Array.from({ length: 24 }, (_, i) => ({ key: `key-${i % 12}`, payload: payload(200 + i, 20_000) }))
      const bytes = publishFrame(30, 'keyed-large', sent)
      for (let at = 0; at < bytes.length; at += 60_000) {
        peer.write(bytes.subarray(at, at + 60_000))
        await new Promise((r) => setTimeout(r, 5))
      }
      const ack = (await acks(peer, [30])).get(30)!
      const partitions = ack.partition as number[]
      t.ok(new Set(partitions).size > 1, 'the batch was split over several partitions')
      const read = await readAll(tb, 'keyed-large', 24)
      const offsets = ack.offset as number[]
      sent.forEach((s, i) => {
        const r = read.get(partitions[i]!)!.find((x) => x.offset === offsets[i])
        t.ok(r && r.key === s.key && r.payload.equals(s.payload), `record ${i} at ${partitions[i]}/${offsets[i]} with its key and payload`)
      })
    })
  })
}
