/**
 * skiff_consumer_lag: records of a partition the group has not acked. It
 * rises with publishes the group has not settled and falls back to 0 as the
 * group acks; a second group's lag is its own.
 */
import t from 'tap'
import { Reader, startTestBroker } from '../e2e/helpers.js'
import { scrapeWhen, sum, value, type Samples } from './scrape.js'

t.test('lag goes up with unacked records and back to 0 as they are acked', async (t) => {
  const tb = await startTestBroker(t, 3)
  const http = tb.broker.httpPort
  const client = await tb.client()
  await client.admin.createTopic('jobs', { partitions: 2 })
  const reader = new Reader(await client.subscribe('jobs', { group: 'workers', from: 'earliest', maxInFlight: 8 }))
  const idle = new Reader(await client.subscribe('jobs', { group: 'idle', from: 'earliest', maxInFlight: 1 }))

  const producer = client.producer()
  await Promise.all(Array.from({ length: 20 }, (_, i) => producer.publish('jobs', `job ${i}`, { key: `k${i % 7}` })))

  // Gauges are sampled once a second: scrape until the lag is what the step expects.
  let s: Samples
  const total = async (group: string, want: number) => {
    s = await scrapeWhen(http, (x) => sum(x, 'skiff_consumer_lag', { topic: 'jobs', group }) === want)
    return sum(s, 'skiff_consumer_lag', { topic: 'jobs', group })
  }
  t.equal(await total('workers', 20), 20, 'nothing acked yet: lag 20 (8 of them in flight)')
  t.equal(await total('idle', 20), 20)
  const perPartition = value(s!, 'skiff_consumer_lag', { topic: 'jobs', group: 'workers', partition: '0' }) + value(s!, 'skiff_consumer_lag', { topic: 'jobs', group: 'workers', partition: '1' })
  t.equal(perPartition, 20, 'one series per partition')

  // One at a time: each ack frees the credit the next delivery needs.
  const ack = async (n: number) => {
    for (let i = 0; i < n; i++) (await reader.take(1))[0]!.ack()
  }
  await ack(10)
  t.equal(await total('workers', 10), 10, 'ten acked: lag 10')
  await ack(10)
  t.equal(await total('workers', 0), 0, 'all acked: lag back to 0')
  t.equal(await total('idle', 20), 20, 'the other group still lags')
  const [one] = await idle.take(1)
  one!.ack()
  t.equal(await total('idle', 19), 19)
})
