/**
 * The idempotent producer, broker side: a PUBLISH re-sent with the same
 * producerId and sequence is confirmed with its original offsets and stored
 * once — also after a broker restart, and on a multi-partition topic.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  Op,
  encodePublish,
  encodeRecord,
  decodePublishAck,
  decodeError,
  decodeOk,
  encodeTopicCreate,
  encodeTopicRef,
  type PublishAck,
} from '../../protocol/index.js'
import { startBroker } from '../../broker/index.js'
import { RawPeer } from './raw-peer.js'

const records = (n: number, keyed: boolean) =>
  Buffer.concat(Array.from({ length: n }, (_, i) => encodeRecord({ key: keyed ? `k${i}` : undefined, payload: Buffer.from(`v${i}`) })))

let corr = 1
async function publish(p: RawPeer, topic: string, n: number, producerId: number, sequence: number, keyed = false): Promise<PublishAck> {
  const c = corr++
  const from = p.frames.length
  p.write(encodePublish({ corr: c, topic, count: n, records: records(n, keyed), confirm: true, producerId, sequence }))
  const f = await p.waitFor((x) => (x.opcode === Op.PUBLISH_ACK && decodePublishAck(x.body).corr === c) || (x.opcode === Op.ERROR && decodeError(x.body).corr === c), 5000, from)
  if (!f) throw new Error('no answer')
  if (f.opcode === Op.ERROR) throw new Error(decodeError(f.body).name)
  return decodePublishAck(f.body)
}

async function endOffsets(p: RawPeer, topic: string): Promise<number[]> {
  const c = corr++
  const from = p.frames.length
  p.write(encodeTopicRef(Op.TOPIC_DESCRIBE, { corr: c, topic }))
  const f = await p.waitFor((x) => x.opcode === Op.OK && decodeOk(x.body).corr === c, 5000, from)
  return (decodeOk(f!.body).result as { partitionInfo: { endOffset: number }[] }).partitionInfo.map((x) => x.endOffset)
}

for (const workers of [1, 3]) {
  t.test(`re-sent batches are stored once (workers ${workers})`, async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-idem-'))
    t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
    const opts = { port: 0, dataDir, workers, logLevel: 'silent' as const }
    let broker = await startBroker(opts)
    let p = await RawPeer.ready(broker.port)
    p.write(encodeTopicCreate({ corr: corr++, topic: 'wide', partitions: 4 }))
    await p.waitFor((x) => x.opcode === Op.OK)

    const first = await publish(p, 'one', 3, 77, 0)
    const second = await publish(p, 'one', 2, 77, 1)
    t.same({ ...(await publish(p, 'one', 3, 77, 0)), corr: 0 }, { ...first, corr: 0 }, 'the re-sent batch gets its original offsets')
    t.same(await endOffsets(p, 'one'), [5], 'and is not stored again')
    t.same(await publish(p, 'one', 2, 88, 1), { corr: corr - 1, partition: 0, offset: 5 }, 'another producer with the same sequence is a different batch')

    const keyed = await publish(p, 'wide', 8, 77, 2, true)
    const keyless = await publish(p, 'wide', 3, 77, 3, false)
    const wideEnds = await endOffsets(p, 'wide')
    t.same({ ...(await publish(p, 'wide', 8, 77, 2, true)), corr: 0 }, { ...keyed, corr: 0 }, 'a keyed batch split over partitions is confirmed the same again')
    t.same({ ...(await publish(p, 'wide', 3, 77, 3, false)), corr: 0 }, { ...keyless, corr: 0 }, 'a keyless batch lands in the same partition again')
    t.same(await endOffsets(p, 'wide'), wideEnds, 'nothing was stored twice on the wide topic')

    await t.rejects(publish(p, 'one', 4, 77, 1), /INVALID_REQUEST/, 'a sequence reused for a different batch is refused')
    p.end()
    await broker.close()

    // After a restart the window is rebuilt from the log.
    broker = await startBroker(opts)
    t.teardown(() => broker.close())
    p = await RawPeer.ready(broker.port)
    t.same({ ...(await publish(p, 'one', 2, 77, 1)), corr: 0 }, { ...second, corr: 0 }, 'after a restart a re-sent batch still gets its original offsets')
    t.same({ ...(await publish(p, 'wide', 3, 77, 3, false)), corr: 0 }, { ...keyless, corr: 0 }, 'and on the wide topic too')
    t.same(await endOffsets(p, 'one'), [7], 'nothing stored twice after the restart')
    t.same(await endOffsets(p, 'wide'), wideEnds)
    p.end()
  })
}
