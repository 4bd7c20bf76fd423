import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { SkiffError } from '../../clients/index.js'
import { WORKER_COUNTS, Reader, publishAll, startTestBroker } from './helpers.js'

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}`, async (t) => {
    t.test('an idle client stays connected: its PINGs keep the broker from dropping it', async (t) => {
      const tb = await startTestBroker(t, workers, { heartbeatMs: 100, idleTimeoutMs: 300 })
      const client = await tb.client()
      t.match(client.welcome, { heartbeatMs: 100, idleTimeoutMs: 300, version: 1 })
      const reader = new Reader(await client.subscribe('quiet', { group: 'g', from: 'earliest' }))
      await sleep(1000) // more than three idle timeouts
      t.notOk(client.closed, 'still connected')
      await publishAll(client, 'quiet', ['still here'])
      t.same((await reader.take(1)).map((m) => m.decode()), ['still here'])
    })

    t.test('the broker limits: maxFrame from WELCOME bounds what the client sends', async (t) => {
      const tb = await startTestBroker(t, workers, { maxFrame: 4096 })
      const client = await tb.client()
      t.equal(client.welcome.maxFrame, 4096)
      const producer = client.producer()
      await t.rejects(producer.publish('limits', Buffer.alloc(8000)), { name: 'SkiffError', codeName: 'FRAME_TOO_LARGE' })
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.publish('limits', Buffer.alloc(1000, i))))
      t.same(many.map((r) => r.offset), Array.from({ length: 20 }, (_, i) => i), 'records that fit are split over frames the broker accepts')
      const reader = new Reader(await client.subscribe('limits', { group: 'g', from: 'earliest', maxInFlight: 20 }))
      const got = await reader.take(20)
      t.ok(got.every((m, i) => m.payload.length === 1000 && m.payload[0] === i))
    })

    t.test('publishing to a dead-letter topic is refused', async (t) => {
      const tb = await startTestBroker(t, workers)
      const client = await tb.client()
      const err = (await client.producer().publish('orders.dlq', 'forged').catch((e: SkiffError) => e)) as SkiffError
      t.equal(err?.name, 'SkiffError', `refused: ${err?.codeName} ${err?.message}`)
    })

    t.test('with auto-create off, unknown topics are UNKNOWN_TOPIC', async (t) => {
      const tb = await startTestBroker(t, workers, { autoCreateTopics: false })
      const client = await tb.client()
      await t.rejects(client.producer().publish('nowhere', 'x'), { name: 'SkiffError', codeName: 'UNKNOWN_TOPIC' })
      await t.rejects(client.subscribe('nowhere', { group: 'g' }), { name: 'SkiffError', codeName: 'UNKNOWN_TOPIC' })
      await client.admin.createTopic('somewhere')
      t.same(await client.producer().publish('somewhere', 'x'), { partition: 0, offset: 0 })
    })

    t.test('a broker shutting down closes clients that do not reconnect; their pending calls reject', async (t) => {
      const tb = await startTestBroker(t, workers)
      const client = await tb.client({ reconnect: false })
      const consumer = await client.subscribe('bye', { group: 'g' })
      const reading = consumer.next()
      reading.catch(() => {}) // rejected before the assertion below looks at it
      const closed = new Promise<SkiffError | undefined>((resolve) => client.once('close', resolve))
      const errors: Error[] = []
      client.on('error', (e) => errors.push(e))
      const closing = tb.broker.close()
      const outcome = await Promise.race([closing.then(() => 'closed' as const), sleep(5000).then(() => 'hung' as const)])
      if (outcome === 'hung') {
        t.fail('broker.close() does not finish within 5 s while a client is connected')
        await client.close() // lets a broker that waits for its connections to end finish closing
        await closing
        return
      }
      const reason = await closed
      t.equal(reason?.codeName, 'CONNECTION_CLOSED', `closed: ${reason?.message}`)
      await t.rejects(reading, { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
      t.throws(() => client.producer(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
      await t.rejects(client.admin.listTopics(), { name: 'SkiffError', codeName: 'CONNECTION_CLOSED' })
      t.ok(errors.length >= 1, `reported: ${errors.map((e) => e.message).join(', ')}`)
      t.match(reason, { cause: { codeName: 'SHUTTING_DOWN' } }, 'the close names the broker shutting down')
    })
  })
}
