/**
 * A bad PUBLISH is refused with INVALID_REQUEST naming the request, nothing of
 * it is stored, and the connection keeps working.
 */
import t from 'tap'
import { Op, encodePublish, encodeRecord, decodeError, decodePublishAck, encodeTopicRef, decodeOk } from '../../protocol/index.js'
import { RawPeer, testBroker } from './raw-peer.js'

const good = encodeRecord({ key: 'k', headers: { a: 'b' }, payload: Buffer.from('ok') })

function badHeaders(): Buffer {
  const r = encodeRecord({ payload: Buffer.from('x'), headers: { h: 'v' } })
  // The headers map holds a string value; make it an integer (0x01) of the same size is impossible,
  // so corrupt the map header into an array header: headers must be a map.
  const at = 4 + 2 + 4 // length, key length (0), headers length
  r[at] = 0x91 // fixarray of one element instead of fixmap
  return r
}

const cases: [string, Buffer][] = [
  ['truncated records', encodePublish({ corr: 1, topic: 'v', count: 1, records: good.subarray(0, good.length - 1), confirm: true })],
  ['count larger than the records', encodePublish({ corr: 2, topic: 'v', count: 2, records: good, confirm: true })],
  ['headers that are not a map of strings', encodePublish({ corr: 3, topic: 'v', count: 1, records: badHeaders(), confirm: true })],
  ['a topic name with a slash', encodePublish({ corr: 4, topic: '../etc', count: 1, records: good, confirm: true })],
  ['a dead-letter topic', encodePublish({ corr: 5, topic: 'v.dlq', count: 1, records: good, confirm: true })],
  ['zero records', encodePublish({ corr: 6, topic: 'v', count: 0, records: Buffer.alloc(0), confirm: true })],
]

t.test('bad publishes are refused and nothing is stored', async (t) => {
  const broker = await testBroker(t)
  const p = await RawPeer.ready(broker.port)
  for (const [name, frame] of cases) {
    const from = p.frames.length
    p.write(frame)
    const f = await p.waitFor((x) => x.opcode === Op.ERROR, 3000, from)
    t.ok(f, `${name}: answered with ERROR`)
    if (f) t.equal(decodeError(f.body).name, 'INVALID_REQUEST', `${name}: INVALID_REQUEST`)
  }
  t.same(
    p.errors().map((e) => e.corr),
    [1, 2, 3, 4, 5, 6],
    'each error names its request',
  )
  // The connection still works and the topic holds only the good record.
  p.write(encodePublish({ corr: 10, topic: 'v', count: 1, records: good, confirm: true }))
  const ack = await p.waitFor((x) => x.opcode === Op.PUBLISH_ACK)
  t.ok(ack, 'a good publish after the bad ones is confirmed')
  t.same(decodePublishAck(ack!.body), { corr: 10, partition: 0, offset: 0 }, 'at offset 0: nothing bad was stored')
  p.write(encodeTopicRef(Op.TOPIC_DESCRIBE, { corr: 11, topic: 'v' }))
  const ok = await p.waitFor((x) => x.opcode === Op.OK)
  const d = decodeOk(ok!.body).result as { partitionInfo: { endOffset: number }[] }
  t.equal(d.partitionInfo[0]!.endOffset, 1)
  t.notOk(p.closed)
  p.end()
})
