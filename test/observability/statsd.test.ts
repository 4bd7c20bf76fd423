/**
 * StatsD push: with `statsd` set, the broker sends its counters (as increases)
 * and gauges as StatsD lines to a UDP listener, here one the test owns.
 */
import t from 'tap'
import { startTestBroker } from '../e2e/helpers.js'
import { pack } from '../../broker/observability/statsd.js'
import { listenUdp, until } from './udp-helpers.js'

t.test('counters and gauges arrive as StatsD lines', async (t) => {
  const listener = await listenUdp()
  t.teardown(() => listener.close())
  const tb = await startTestBroker(t, 2, { statsd: `127.0.0.1:${listener.port}`, statsdIntervalS: 0.2 })
  const client = await tb.client()
  const producer = client.producer()
  await Promise.all(['a', 'b', 'c'].map((x) => producer.publish('events', x)))
  await producer.publish('events', 'd')

  const lines = () => listener.received.flatMap((d) => d.toString('utf8').split('\n'))
  // Counter lines carry increases: they add up to the total, however the pushes split them.
  const published = () =>
    lines()
      .map((l) => /^skiff\.messages_published,topic=events:(\d+)\|c$/.exec(l))
      .reduce((n, m) => n + (m ? Number(m[1]) : 0), 0)
  await until('4 publishes reported', () => published() >= 4, 8000)
  t.equal(published(), 4, 'increases add up to the 4 publishes')
  await until('a connections gauge', () => lines().some((l) => l === 'skiff.connections:1|g'), 8000)
  t.ok(lines().some((l) => /^skiff\.bytes_received:\d+\|c$/.test(l)), 'byte counters')
  t.notOk(lines().some((l) => /:0\|c$/.test(l)), 'counters that did not move are not sent')
  for (const line of lines()) t.match(line, /^skiff\.[a-z_]+(,[a-z_]+=[A-Za-z0-9._-]+)*:-?[0-9.e+-]+\|(c|g)$/, line)
  for (const d of listener.received) t.ok(d.length <= 1400, 'each datagram under the MTU budget')
})

t.test('lines are packed into datagrams of bounded size', async (t) => {
  const lines = Array.from({ length: 100 }, (_, i) => `skiff.x,topic=t${i}:${i}|c`)
  const packets = pack(lines, 200)
  t.ok(packets.length > 1)
  for (const p of packets) t.ok(p.length <= 200)
  t.same(packets.flatMap((p) => p.toString().split('\n')), lines, 'every line once, in order')
  t.same(pack([], 200), [])
  t.same(pack(['x'.repeat(300)], 200).map((p) => p.length), [300], 'a longer line goes alone')
})
