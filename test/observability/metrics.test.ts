/**
 * Traffic through a real broker, then a scrape whose numbers are exactly that
 * traffic: publishes, deliveries to two groups, nacks (redeliveries), terms
 * (dead letters, which are also appends to <topic>.dlq), UDP readings, a
 * refused request. With 3 workers the topic's 6 partitions are spread over
 * the pool, so the totals are sums of several workers' counts.
 */
import t from 'tap'
import { Reader, startTestBroker } from '../e2e/helpers.js'
import { telemetry } from '../../clients/index.js'
import { scrape, scrapeUntil, scrapeWhen, sum, value, type Samples } from './scrape.js'

for (const workers of [1, 3]) {
  t.test(`workers=${workers}: the scrape equals the traffic`, async (t) => {
    const tb = await startTestBroker(t, workers)
    const http = tb.broker.httpPort
    const client = await tb.client()
    await client.admin.createTopic('orders', { partitions: 6 })

    const producer = client.producer()
    await Promise.all(Array.from({ length: 60 }, (_, i) => producer.publish('orders', `order ${i}`, { key: `customer-${i}` })))

    const billing = new Reader(await client.subscribe('orders', { group: 'billing', from: 'earliest', maxInFlight: 100 }))
    const first = await billing.take(60)
    const nacked = first.slice(0, 5)
    const termed = first.slice(5, 7)
    for (const m of nacked) m.nack()
    for (const m of termed) m.term()
    for (const m of first.slice(7)) m.ack()
    const again = await billing.take(5)
    t.same(again.map((m) => m.deliveryCount), [2, 2, 2, 2, 2], 'the nacked five come back')
    for (const m of again) m.ack()

    const audit = new Reader(await client.subscribe('orders', { group: 'audit', from: 'earliest', maxInFlight: 100 }))
    for (const m of await audit.take(60)) m.ack()

    const sensors = telemetry(`udp://127.0.0.1:${tb.broker.udpPort}`)
    for (let i = 0; i < 10; i++) t.ok(sensors.send('sensors', { reading: i }))
    await sensors.close()
    t.ok(sensors.stats.datagrams >= 1)

    await t.rejects(client.admin.createTopic('orders'), { name: 'SkiffError', codeName: 'TOPIC_EXISTS' })

    const s = await scrapeUntil(http, [
      ['skiff_messages_published_total', { topic: 'orders' }, 60],
      ['skiff_messages_published_total', { topic: 'orders.dlq' }, 2],
      ['skiff_messages_published_total', { topic: 'sensors' }, 10],
      ['skiff_messages_delivered_total', { topic: 'orders', group: 'billing' }, 65],
      ['skiff_messages_acked_total', { topic: 'orders', group: 'billing' }, 58],
      ['skiff_messages_redelivered_total', { topic: 'orders', group: 'billing' }, 5],
      ['skiff_messages_dead_lettered_total', { topic: 'orders', group: 'billing' }, 2],
      ['skiff_messages_delivered_total', { topic: 'orders', group: 'audit' }, 60],
      ['skiff_messages_acked_total', { topic: 'orders', group: 'audit' }, 60],
      ['skiff_udp_datagrams_total', { result: 'accepted' }, sensors.stats.datagrams],
      ['skiff_protocol_errors_total', { code: 'TOPIC_EXISTS' }, 1],
    ])
    t.equal(value(s, 'skiff_messages_published_total', { topic: 'orders' }), 60, 'published')
    t.equal(value(s, 'skiff_messages_published_total', { topic: 'orders.dlq' }), 2, 'dead letters are appends to orders.dlq')
    t.equal(value(s, 'skiff_messages_published_total', { topic: 'sensors' }), 10, 'UDP readings are appends')
    t.equal(value(s, 'skiff_messages_delivered_total', { topic: 'orders', group: 'billing' }), 65, 'billing: 60 deliveries and 5 redeliveries')
    t.equal(value(s, 'skiff_messages_redelivered_total', { topic: 'orders', group: 'billing' }), 5)
    t.equal(value(s, 'skiff_messages_acked_total', { topic: 'orders', group: 'billing' }), 58, '53 acked at once, 5 after a nack')
    t.equal(value(s, 'skiff_messages_dead_lettered_total', { topic: 'orders', group: 'billing' }), 2)
    t.equal(value(s, 'skiff_messages_delivered_total', { topic: 'orders', group: 'audit' }), 60)
    t.equal(value(s, 'skiff_messages_acked_total', { topic: 'orders', group: 'audit' }), 60)
    t.equal(value(s, 'skiff_messages_redelivered_total', { topic: 'orders', group: 'audit' }), 0)
    t.equal(value(s, 'skiff_messages_dead_lettered_total', { topic: 'orders', group: 'audit' }), 0)
    t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'accepted' }), sensors.stats.datagrams, 'every datagram accepted')
    t.equal(sum(s, 'skiff_udp_datagrams_total') - value(s, 'skiff_udp_datagrams_total', { result: 'accepted' }), 0, 'none rejected')
    t.equal(value(s, 'skiff_protocol_errors_total', { code: 'TOPIC_EXISTS' }), 1, 'the refused create')
    t.equal(sum(s, 'skiff_protocol_errors_total'), 1, 'no other error')
    t.equal(value(s, 'skiff_connections'), 1, 'the one client')
    t.ok(value(s, 'skiff_bytes_received_total') > 60 * 'order 00'.length, 'bytes received')
    t.ok(value(s, 'skiff_bytes_sent_total') > 120 * 'order 00'.length, 'bytes sent')
    t.ok(value(s, 'skiff_fsync_duration_seconds_count') >= 1, 'fsyncs timed')
    const confirms = value(s, 'skiff_publish_confirm_seconds_count')
    t.ok(confirms >= 1 && confirms <= 60, `one confirm time per PUBLISH frame (${confirms})`)
    t.ok(value(s, 'process_cpu_user_seconds_total') > 0, 'default process metrics')
    t.ok(s.has('nodejs_heap_size_used_bytes'), 'default Node.js metrics')

    // Gauges are sampled by the workers once a second: the lag one is a sample taken after the last settle.
    const settled = (x: Samples, group: string) => [...x.keys()].some((k) => k.startsWith('skiff_consumer_lag{') && k.includes(`group="${group}"`)) && sum(x, 'skiff_consumer_lag', { topic: 'orders', group }) === 0
    const later = await scrapeWhen(
        http,
        (x) =>
          Array.from({ length: workers }, (_, w) => w).every((w) => x.has(`skiff_worker_event_loop_utilization{worker="${w}"}`)) &&
          x.has('skiff_log_bytes{partition="0",topic="orders"}') &&
          settled(x, 'billing') &&
          settled(x, 'audit'),
      )
    for (let w = 0; w < workers; w++) t.ok(later.has(`skiff_worker_event_loop_utilization{worker="${w}"}`), `worker ${w} reports its utilization`)
    t.ok(sum(later, 'skiff_log_bytes', { topic: 'orders' }) > 60 * 'order 00'.length, 'log bytes of orders')
    t.equal(sum(later, 'skiff_consumer_lag', { topic: 'orders', group: 'billing' }), 0, 'billing settled everything')
    t.equal(sum(later, 'skiff_consumer_lag', { topic: 'orders', group: 'audit' }), 0, 'audit settled everything')

    await client.close()
    const after = await scrapeUntil(http, [['skiff_connections', {}, 0]])
    t.equal(value(after, 'skiff_connections'), 0, 'connection gauge follows closes')
  })
}

t.test('label budget: past maxMetricTopics, topics share topic="_other"', async (t) => {
  const tb = await startTestBroker(t, 1, { maxMetricTopics: 2 })
  const client = await tb.client()
  const producer = client.producer()
  for (const topic of ['a', 'b', 'c', 'd']) await producer.publish(topic, 'x')
  await producer.publish('d', 'y')
  const s = await scrapeUntil(tb.broker.httpPort, [['skiff_messages_published_total', { topic: '_other' }, 3]])
  t.equal(value(s, 'skiff_messages_published_total', { topic: 'a' }), 1)
  t.equal(value(s, 'skiff_messages_published_total', { topic: 'b' }), 1)
  t.equal(value(s, 'skiff_messages_published_total', { topic: '_other' }), 3, 'c and d folded together')
  t.notOk(s.has('skiff_messages_published_total{topic="c"}'), 'no series of its own')
})

t.test('a scrape of a fresh broker has every family', async (t) => {
  const tb = await startTestBroker(t, 1)
  const res = await fetch(`http://127.0.0.1:${tb.broker.httpPort}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const text = await res.text()
  for (const family of [
    'skiff_messages_published_total',
    'skiff_messages_delivered_total',
    'skiff_messages_acked_total',
    'skiff_messages_redelivered_total',
    'skiff_messages_dead_lettered_total',
    'skiff_consumer_lag',
    'skiff_connections',
    'skiff_gateway_pending_output_bytes',
    'skiff_gateway_partial_frame_bytes',
    'skiff_gateway_unconfirmed_publish_bytes',
    'skiff_bytes_received_total',
    'skiff_bytes_sent_total',
    'skiff_fsync_duration_seconds',
    'skiff_publish_confirm_seconds',
    'skiff_udp_datagrams_total',
    'skiff_protocol_errors_total',
    'skiff_worker_event_loop_utilization',
    'skiff_log_bytes',
  ]) {
    t.match(text, new RegExp(`^# TYPE ${family} `, 'm'), family)
  }
  const s = await scrape(tb.broker.httpPort)
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'garbage' }), 0, 'every UDP result starts at 0')
})
