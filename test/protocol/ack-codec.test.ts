/**
 * ACK's two forms from real bytes: readAck gives the frame as sent, decodeAck
 * one entry per message (per-message entries first, then each range
 * expanded), and both refuse the same malformed frames with INVALID_REQUEST.
 */
import t from 'tap'
import { MAX_ACKS_PER_FRAME, decodeAck, encodeAck, encodeFrame, Op, readAck, type Ack } from '../../protocol/index.js'

const body = (a: Ack) => encodeAck(a).subarray(5)

t.test('per-message entries, then ranges expanded, in frame order', async (t) => {
  const b = body({ sub: 3, kind: 'nack', partitions: [1, 0], offsets: [9, 4], ranges: [2, 2 ** 40, 3, 0, 0, 1], delayMs: 250 })
  t.strictSame(decodeAck(b), { sub: 3, kind: 'nack', partitions: [1, 0, 2, 2, 2, 0], offsets: [9, 4, 2 ** 40, 2 ** 40 + 1, 2 ** 40 + 2, 0], delayMs: 250 })
  t.strictSame(readAck(b), { sub: 3, kind: 'nack', partitions: [1, 0], offsets: [9, 4], ranges: [2, 2 ** 40, 3, 0, 0, 1], delayMs: 250 })
})

t.test('ranges alone: no per-message arrays needed', async (t) => {
  const b = body({ sub: 1, kind: 'ack', ranges: [0, 5, 2] })
  t.strictSame(decodeAck(b), { sub: 1, kind: 'ack', partitions: [0, 0], offsets: [5, 6], delayMs: undefined })
  t.equal(readAck(b).partitions, undefined)
})

t.test('the limit counts entries and range counts together', async (t) => {
  const atLimit = body({ sub: 1, kind: 'ack', partitions: [0], offsets: [0], ranges: [0, 1, MAX_ACKS_PER_FRAME - 1] })
  t.equal(decodeAck(atLimit).offsets.length, MAX_ACKS_PER_FRAME)
  const over = body({ sub: 1, kind: 'ack', partitions: [0], offsets: [0], ranges: [0, 1, MAX_ACKS_PER_FRAME] })
  t.throws(() => readAck(over), { codeName: 'INVALID_REQUEST', message: /at most 100000/ })
})

t.test('malformed frames are INVALID_REQUEST from both readers', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['neither form (as before ranges: partitions is required)', { sub: 1, kind: 'ack' }, /ACK\.partitions must be/],
    ['partitions without offsets', { sub: 1, kind: 'ack', partitions: [0], ranges: [0, 0, 1] }, /ACK\.offsets must be/],
    ['arrays of different lengths', { sub: 1, kind: 'ack', partitions: [0, 0], offsets: [1] }, /differ in length/],
    ['ranges not in triples', { sub: 1, kind: 'ack', ranges: [0, 0] }, /triples/],
    ['a count of 0', { sub: 1, kind: 'ack', ranges: [0, 0, 0] }, /range 0 must count/],
    ['a count past the limit', { sub: 1, kind: 'ack', ranges: [0, 0, 1, 0, 0, MAX_ACKS_PER_FRAME + 1] }, /range 1 must count/],
    ['a last offset past 2^53', { sub: 1, kind: 'ack', ranges: [0, Number.MAX_SAFE_INTEGER, 2] }, /below 2\^53/],
    ['a negative first offset', { sub: 1, kind: 'ack', ranges: [0, -1, 1] }, /ACK\.ranges must be/],
    ['ranges of the wrong type', { sub: 1, kind: 'ack', ranges: 'all' }, /ACK\.ranges must be/],
  ]
  for (const [what, value, message] of cases) {
    const b = encodeFrame(Op.ACK, value).subarray(5)
    t.throws(() => readAck(b), { name: 'SkiffError', codeName: 'INVALID_REQUEST', message }, `readAck: ${what}`)
    t.throws(() => decodeAck(b), { name: 'SkiffError', codeName: 'INVALID_REQUEST', message }, `decodeAck: ${what}`)
  }
  t.ok(readAck(body({ sub: 1, kind: 'ack', ranges: [0, Number.MAX_SAFE_INTEGER, 1] })), 'the last offset may be 2^53 - 1')
})
