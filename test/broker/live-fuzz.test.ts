/**
 * Random and mutated frames thrown at a live broker: whatever arrives, the
 * broker answers with frames it can decode (ERROR for what it refuses), closes
 * at most the offending connection, and keeps serving a bystander client.
 */
import t from 'tap'
import fc from 'fast-check'
import {
  Op,
  encodeFrame,
  encodePublish,
  encodeRecord,
  encodeSubscribe,
  encodeAck,
  encodeTopicCreate,
  encodeTopicList,
  decodeError,
  decodeOk,
} from '../../protocol/index.js'
import { RawPeer, testBroker } from './raw-peer.js'

const records = Buffer.concat([encodeRecord({ payload: Buffer.from('a') }), encodeRecord({ key: 'k', headers: { h: 'v' }, payload: Buffer.from('bb') })])

const validFrames = [
  encodePublish({ corr: 1, topic: 'fuzz', count: 2, records, confirm: true }),
  encodeSubscribe({ corr: 2, sub: 1, topic: 'fuzz', group: 'g', start: 'earliest', maxInFlight: 10 }),
  encodeAck({ sub: 1, kind: 'ack', partitions: [0], offsets: [0] }),
  encodeTopicCreate({ corr: 3, topic: 'fuzz2', partitions: 2 }),
  encodeFrame(Op.GROUP_DESCRIBE, { corr: 4, topic: 'fuzz', group: 'g' }),
]

/** A valid frame with some bytes after its length prefix overwritten. */
const mutated = fc
  .tuple(fc.constantFrom(...validFrames), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }))
  .map(([frame, edits]) => {
    const b = Buffer.from(frame)
    for (const [at, v] of edits) b[4 + (at % (b.length - 4))] = v
    return b
  })

/** A well-delimited frame with a random opcode and random body. */
const randomBody = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 })).map(([op, body]) => {
  const b = Buffer.alloc(5 + body.length)
  b.writeUInt32BE(body.length + 1, 0)
  b[4] = op
  b.set(body, 5)
  return b
})

t.test('random and mutated frames never hurt the broker or other clients', async (t) => {
  const broker = await testBroker(t, { workers: 2 })
  const bystander = await RawPeer.ready(broker.port)
  let corr = 100
  let runs = 0
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof(mutated, randomBody, fc.uint8Array({ minLength: 1, maxLength: 64 }).map((u) => Buffer.from(u))), { minLength: 1, maxLength: 5 }), async (frames) => {
      runs++
      const p = await RawPeer.ready(broker.port)
      for (const f of frames) p.write(f)
      p.write(encodeTopicList(99))
      // Either the broker answers the final request, or it closed this connection after an ERROR.
      const answered = await p.waitFor((f) => f.opcode === Op.OK && decodeOk(f.body).corr === 99, 3000)
      if (!answered) {
        if (!p.closed) {
          // Bytes may still be owed to a frame whose length was mutated upward: the broker is waiting, which is correct.
          p.end()
        }
      }
      for (const e of p.frames.filter((f) => f.opcode === Op.ERROR)) {
        const err = decodeError(e.body)
        if (!(err.code > 0 && err.name.length > 0)) return false
      }
      p.end()
      const c = corr++
      bystander.write(encodeTopicList(c))
      const ok = await bystander.waitFor((f) => f.opcode === Op.OK, 3000, bystander.frames.length)
      return ok !== undefined && !bystander.closed
    }),
    { numRuns: 60 },
  )
  t.ok(runs >= 60, 'every run checked the bystander')
  bystander.end()
})
