/**
 * send()'s two answers to a full buffer (drop with a counted reason, or
 * wait), and fire-and-forget records while the client reconnects.
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { Op } from '../../protocol/index.js'
import { startStandIn, turn, waitFor } from './stand-in.js'

const RECORD = Buffer.alloc(8 * 1024 - 10) // 8 KiB with the record overhead
const sends = (frames: { opcode: number; body: any }[]) => frames.filter((f) => f.opcode === Op.PUBLISH && !f.body.confirm)

t.test("whenFull: 'wait' makes send() wait for room instead of dropping", async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer({ maxBufferedBytes: 32 * 1024, whenFull: 'wait' })
  const results = Array.from({ length: 10 }, () => producer.send('telemetry', RECORD))
  t.ok(results.every((r) => r instanceof Promise), 'a promise each')
  t.same(await Promise.all(results), Array(10).fill(true), 'every record queued in the end')
  await producer.flush()
  await waitFor('all ten on the wire', () => sends(peer.frames).reduce((n, f) => n + f.body.count, 0) === 10)
  t.ok(sends(peer.frames).every((f) => f.body.count <= 4), 'never more than 32 KiB queued at once')
  t.match(producer.stats, { sent: 10, dropped: { full: 0, timeout: 0, closed: 0 } })
})

t.test('drops are counted by reason: full, timeout, closed', async (t) => {
  const first = await startStandIn()
  const client = await connect(first.url, { reconnect: { initialDelayMs: 5, maxDelayMs: 20 }, requestTimeoutMs: 200 })
  const producer = client.producer({ maxBufferedBytes: 16 * 1024 })
  await first.close()
  await waitFor('reconnecting', () => client.status === 'reconnecting')
  // While reconnecting, sends queue (bounded by bytes) instead of being lost.
  t.same([1, 2, 3].map(() => producer.send('telemetry', RECORD)), [true, true, false])
  t.match(producer.stats.dropped, { full: 1 })
  await producer.flush() // the two queued records are dropped once their deadline passes
  t.match(producer.stats, { sent: 0, dropped: { full: 1, timeout: 2, closed: 0 } })
  t.equal(producer.send('telemetry', RECORD), true, 'room again')
  await client.close()
  t.equal(producer.send('telemetry', RECORD), false)
  t.match(producer.stats, { sent: 0, dropped: { full: 1, timeout: 2, closed: 2 } }, 'the one queued at close, and the one after')
})

t.test('fire-and-forget records queued while reconnecting go out once connected', async (t) => {
  const first = await startStandIn()
  const port = first.port
  const client = await connect(first.url, { reconnect: { initialDelayMs: 5, maxDelayMs: 20 } })
  t.teardown(() => client.close())
  const producer = client.producer()
  await first.close()
  await waitFor('reconnecting', () => client.status === 'reconnecting')
  for (let i = 0; i < 3; i++) t.equal(producer.send('telemetry', { i }), true)
  for (let i = 0; i < 5; i++) await turn()
  const second = await startStandIn({ port })
  t.teardown(second.close)
  await producer.flush()
  await waitFor('the records', () => sends(second.frames).length === 1)
  t.equal(sends(second.frames)[0]!.body.count, 3)
  t.match(producer.stats, { sent: 3 })
})

t.test('bad producer options are refused', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  t.throws(() => client.producer({ whenFull: 'block' as 'wait' }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  t.throws(() => client.producer({ maxBufferedBytes: 0 }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  await t.rejects(connect(peer.url, { requestTimeoutMs: 0 }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  await t.rejects(connect(peer.url, { reconnect: { maxAttempts: 0 } }), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
})
