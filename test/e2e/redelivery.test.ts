import t from 'tap'
import { WORKER_COUNTS, Reader, publishAll, startTestBroker } from './helpers.js'

/** Setting a timer for N ms can fire a millisecond or so early; allow for that, nothing more. */
const TIMER_SLACK_MS = 20

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    const tb = await startTestBroker(t, workers)

    t.test('a message not acked within ackTimeoutMs comes again with deliveryCount 2', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'slow-work', ['job'])
      const reader = new Reader(await client.subscribe('slow-work', { group: 'w', from: 'earliest', ackTimeoutMs: 300 }))
      const [first] = await reader.take(1)
      t.equal(first!.deliveryCount, 1)
      const [second] = await reader.take(1, 5000)
      t.equal(second!.offset, first!.offset, 'the same message')
      t.equal(second!.deliveryCount, 2)
      t.equal(second!.decode(), 'job')
      second!.ack()
      t.equal(await reader.next(600), undefined, 'acked: not delivered again')
    })

    t.test('inProgress() keeps a slow message from timing out', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'long-work', ['job'])
      const reader = new Reader(await client.subscribe('long-work', { group: 'w', from: 'earliest', ackTimeoutMs: 600 }))
      const [msg] = await reader.take(1)
      // Four progress reports 200 ms apart span 800 ms, past the 600 ms timeout.
      for (let i = 0; i < 4; i++) {
        t.equal(await reader.next(200), undefined, `no redelivery before progress report ${i}`)
        t.equal(msg!.inProgress(), true)
      }
      msg!.ack()
      t.equal(msg!.inProgress(), false, 'no progress after the ack')
      t.equal(await reader.next(900), undefined, 'never redelivered')
    })

    t.test('nack with a delay: redelivered after the delay, not before', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'retry', ['again'])
      const reader = new Reader(await client.subscribe('retry', { group: 'w', from: 'earliest' }))
      const [msg] = await reader.take(1)
      const nackedAt = Date.now()
      msg!.nack({ delayMs: 600 })
      t.equal(await reader.next(400), undefined, 'not within the first 400 ms')
      const [again] = await reader.take(1, 5000)
      t.ok(Date.now() - nackedAt >= 600 - TIMER_SLACK_MS, `redelivered after ${Date.now() - nackedAt} ms`)
      t.equal(again!.offset, msg!.offset)
      t.equal(again!.deliveryCount, 2)
      again!.ack()
    })

    t.test('nack without a delay redelivers at once; other messages keep flowing', async (t) => {
      const client = await tb.client()
      await publishAll(client, 'retry-now', ['a', 'b', 'c'])
      const reader = new Reader(await client.subscribe('retry-now', { group: 'w', from: 'earliest', maxInFlight: 10 }))
      const first = await reader.take(3)
      first[0]!.nack()
      first[1]!.ack()
      first[2]!.ack()
      const [again] = await reader.take(1)
      t.equal(again!.decode(), 'a')
      t.equal(again!.deliveryCount, 2)
      again!.ack()
      t.equal(await reader.next(300), undefined)
    })
  })
}
