/**
 * The panel's rate history: its bounds (samples kept, topics tracked, what
 * happens past them) on the class itself, and /api/rates over HTTP from a
 * real broker after real traffic.
 */
import t from 'tap'
import { startBroker } from '../../broker/index.js'
import { connect } from '../../clients/index.js'
import { RateHistory, type TopicTotals } from '../../broker/observability/panel/rate-history.js'
import { tempDir } from '../reliability/harness.js'
import { request, until } from './panel-helpers.js'

const totals = (entries: [string, TopicTotals][]) => new Map(entries)

t.test('RateHistory: rates per second, a bounded ring, a bounded table, idle topics leave', async (t) => {
  const h = new RateHistory({ intervalMs: 1000, samples: 3, maxTopics: 2 })
  h.record(0, totals([['a', [100, 0, 0]]]))
  t.same(h.query().times, [], 'the first call is only a baseline')
  h.record(1000, totals([['a', [110, 4, 2]]]))
  h.record(3000, totals([['a', [130, 8, 2]]]))
  t.same(h.query(['a']).topics, [{ topic: 'a', publish: [10, 10], deliver: [4, 2], ack: [2, 0] }], 'per second over each interval, however long')
  h.record(4000, totals([['a', [131, 8, 2]], ['b', [5, 0, 0]]]))
  h.record(5000, totals([['a', [131, 8, 2]], ['b', [5, 0, 0]], ['c', [7, 0, 0]], ['d', [1, 0, 0]]]))
  const q = h.query()
  t.same(q.times, [3000, 4000, 5000], 'at most 3 samples: the oldest went')
  t.equal(q.tracked, 2)
  t.equal(q.folded, 2, 'c and d arrived with the table full')
  t.same(
    q.topics.map((x) => [x.topic, x.publish]),
    [
      ['_other', [0, 0, 8]],
      ['a', [10, 1, 0]],
    ],
    'the quietest series (b) gave its slot to _other, which holds c + d',
  )
  t.same(h.query(['b', 'zzz']).topics.map((x) => x.publish), [[0, 0, 0], [0, 0, 0]], 'an untracked topic answers zeros')
  for (let i = 6; i <= 8; i++) h.record(i * 1000, totals([['a', [131, 8, 2]], ['b', [5, 0, 0]], ['c', [7, 0, 0]], ['d', [1, 0, 0]]]))
  t.equal(h.query().tracked, 0, 'idle for the whole window: every slot is free again')
  h.record(9000, totals([['c', [17, 0, 0]]]))
  t.same(h.query().topics.map((x) => [x.topic, x.publish.at(-1)]), [['c', 10]], 'a freed slot takes the next busy topic')
})

t.test('/api/rates from a broker: a series with points after traffic, bounded queries', async (t) => {
  const dataDir = tempDir(t, 'panel-rates')
  // Two topics get their own counter series; the others are folded into _other by the metrics, and so in the rates.
  const broker = await startBroker({ port: 0, httpPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', dataDir, maxMetricTopics: 2 })
  const client = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'rates' })
  t.teardown(async () => {
    await client.close()
    await broker.close()
  })
  const producer = client.producer()
  for (const topic of ['r1', 'r2', 'r3', 'r4']) for (let i = 0; i < 10; i++) await producer.publish(topic, `m${i}`)
  const consumer = await client.subscribe('r1', { group: 'g', from: 'earliest' })
  const it = consumer[Symbol.asyncIterator]()
  for (let i = 0; i < 10; i++) (await it.next()).value!.ack()
  type Rates = { intervalMs: number; samples: number; maxTopics: number; times: number[]; topics: { topic: string; publish: number[]; deliver: number[]; ack: number[] }[] }
  const port = broker.httpPort
  // One sample every 5 s; the traffic may fall on both sides of a sample, so wait for the one after all of it.
  const sum = (v: number[]) => v.reduce((a, x) => a + x, 0)
  const total = (a: Rates, topic: string, series: 'publish' | 'deliver' | 'ack') => sum(a.topics.find((x) => x.topic === topic)?.[series] ?? []) * 5
  const r = await until(async () => {
    const a = (await request(port, '/api/rates')).json<Rates>()
    return total(a, 'r1', 'publish') > 9.9 && total(a, 'r1', 'ack') > 9.9 && total(a, '_other', 'publish') > 19.9 && a
  }, 20_000, 500)
  t.ok(r, 'r1 got a publish rate')
  t.match(r, { intervalMs: 5000, samples: 180, maxTopics: 500 })
  const r1 = r!.topics.find((x) => x.topic === 'r1')!
  t.equal(r1.publish.length, r!.times.length, 'one value per sample')
  t.ok(Math.abs(sum(r1.publish) * 5 - 10) < 0.1, `10 published over the samples (${sum(r1.publish) * 5})`)
  t.ok(Math.abs(sum(r1.deliver) * 5 - 10) < 0.1 && Math.abs(sum(r1.ack) * 5 - 10) < 0.1, 'delivered and acked: 10 each')
  t.same(r!.topics.map((x) => x.topic).sort(), ['_other', 'r1', 'r2'], 'topics past --max-metric-topics are summed as _other')
  t.ok(Math.abs(sum(r!.topics.find((x) => x.topic === '_other')!.publish) * 5 - 20) < 0.1, '_other holds r3 and r4')
  const picked = (await request(port, '/api/rates?topics=r2,unknown')).json<Rates>()
  t.same(picked.topics.map((x) => x.topic), ['r2', 'unknown'], 'the topics asked for, in order; an unknown one is zeros')
  const tooMany = await request(port, '/api/rates?topics=' + Array.from({ length: 501 }, (_, i) => `t${i}`).join(','))
  t.equal(tooMany.status, 400)
  t.match(tooMany.body, /at most 500/)
})
