/**
 * ACK ranges at a real broker, over raw frames: a range settles exactly the
 * offsets it names (and a nack range redelivers them), entries for partitions
 * the topic does not have are ignored, per-message entries and ranges in one
 * frame both count, and a frame with a malformed range is refused with
 * INVALID_REQUEST as a whole (nothing in it is settled) while the connection
 * stays open.
 */
import t from 'tap'
import {
  MAX_ACKS_PER_FRAME,
  Op,
  decodeDeliver,
  decodeError,
  encodeAck,
  encodeFrame,
  encodePublish,
  encodeRecord,
  encodeSubscribe,
  encodeTopicList,
  type Frame,
} from '../../protocol/index.js'
import { RawPeer, testBroker } from './raw-peer.js'

const MESSAGES = 12
const isDeliver = (f: Frame) => f.opcode === Op.DELIVER

/** Offsets delivered to `peer` from frame index `from` on, waiting until `n` have come (bounded). */
async function delivered(peer: RawPeer, n: number, from = 0): Promise<{ offset: number; deliveryCount: number }[]> {
  const out = () =>
    peer.frames
      .slice(from)
      .filter(isDeliver)
      .flatMap((f) => decodeDeliver(f.body).messages.map((m) => ({ offset: m[1], deliveryCount: m[3] })))
  for (let i = 0; i < 100 && out().length < n; i++) await peer.waitFor(() => false, 50)
  return out()
}

async function subscribe(peer: RawPeer, corr: number): Promise<void> {
  peer.write(encodeSubscribe({ corr, sub: 1, topic: 'ranges', group: 'g', start: 'earliest', maxInFlight: 100 }))
  const ok = await peer.waitFor((f) => f.opcode === Op.OK || f.opcode === Op.ERROR)
  if (ok?.opcode !== Op.OK) throw new Error('SUBSCRIBE was not accepted')
}

/** A request the gateway answers itself, to know every frame before it was read. */
async function roundTrip(peer: RawPeer, corr: number): Promise<void> {
  const from = peer.frames.length
  peer.write(encodeTopicList(corr))
  if (!(await peer.waitFor((f) => f.opcode === Op.OK, 5000, from))) throw new Error('no answer to TOPIC_LIST')
}

t.test('ranges settle what they name; a malformed ACK settles nothing and keeps the connection', async (t) => {
  const broker = await testBroker(t)
  const first = await RawPeer.ready(broker.port)
  t.teardown(() => first.end())
  const records = Buffer.concat(Array.from({ length: MESSAGES }, (_, i) => encodeRecord({ payload: Buffer.from(`m${i}`) })))
  first.write(encodePublish({ corr: 1, topic: 'ranges', count: MESSAGES, records, confirm: true }))
  t.ok(await first.waitFor((f) => f.opcode === Op.PUBLISH_ACK), 'published')
  await subscribe(first, 2)
  t.same(
    (await delivered(first, MESSAGES)).map((m) => m.offset),
    Array.from({ length: MESSAGES }, (_, i) => i),
  )

  const refused = [
    { what: 'a count past the per-frame limit', ranges: [0, 4, 1, 0, 0, MAX_ACKS_PER_FRAME + 1] },
    { what: 'a count of 0', ranges: [0, 4, 1, 0, 8, 0] },
    { what: 'a length that is not a multiple of 3', ranges: [0, 4, 1, 0] },
    { what: 'more than the limit in all', ranges: [0, 4, 1, 0, 0, MAX_ACKS_PER_FRAME] },
    { what: 'a last offset past 2^53', ranges: [0, 4, 1, 0, Number.MAX_SAFE_INTEGER, 2] },
  ]
  for (const r of refused) {
    const from = first.frames.length
    first.write(encodeAck({ sub: 1, kind: 'ack', ranges: r.ranges }))
    const err = await first.waitFor((f) => f.opcode === Op.ERROR, 5000, from)
    t.match(err && decodeError(err.body), { code: 7, name: 'INVALID_REQUEST' }, r.what)
  }
  const raw = encodeFrame(Op.ACK, { sub: 1, kind: 'ack', ranges: [0, 4, -1] })
  first.write(raw)
  await roundTrip(first, 3)
  t.notOk(first.closed, 'the connection stays open after refused ACKs')

  // Offsets 0-2 and 5-6 acked as ranges, 9 as a per-message entry in the same frame;
  // partition 7 does not exist (ignored); offset 3 nacked.
  first.write(encodeAck({ sub: 1, kind: 'ack', partitions: [0], offsets: [9], ranges: [0, 0, 3, 7, 0, 100, 0, 5, 2] }))
  const beforeNack = first.frames.length
  first.write(encodeAck({ sub: 1, kind: 'nack', ranges: [0, 3, 1] }))
  t.same(
    (await delivered(first, 1, beforeNack)).map((m) => m.offset),
    [3],
    'the nacked range comes again',
  )
  first.end()
  t.ok(await first.waitClosed())

  // The group's next member gets what is unsettled: 3 (nacked, then released), 4, 7, 8, 10, 11.
  const second = await RawPeer.ready(broker.port)
  t.teardown(() => second.end())
  await subscribe(second, 1)
  const again = await delivered(second, 6)
  t.same(
    again.map((m) => m.offset).sort((a, b) => a - b),
    [3, 4, 7, 8, 10, 11],
    'everything a range or entry named was settled, nothing else',
  )
  t.equal(again.find((m) => m.offset === 3)?.deliveryCount, 3, 'offset 3: delivered, nacked and redelivered, then released')
  t.equal(await second.waitFor((f) => isDeliver(f) && decodeDeliver(f.body).messages.length > 0, 300, second.frames.findLastIndex(isDeliver) + 1), undefined, 'and nothing more')
})
