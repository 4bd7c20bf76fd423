/**
 * The replication metrics as a scrape shows them: the counters and the
 * per-partition follower lag and high watermark read from what the
 * replication code records (cluster/replication-stats.ts), topics kept
 * within the --max-metric-topics budget like every per-topic metric.
 */
import t from 'tap'
import { BrokerMetrics } from '../../broker/observability/metrics.js'
import { ReplicationStats } from '../../broker/cluster/replication-stats.js'
import { metricValue } from '../reliability/harness.js'

t.test('follower lag and high watermark per partition led here, folded past the topic budget', async (t) => {
  const metrics = new BrokerMetrics({ maxMetricTopics: 1, maxMetricGroups: 10, warn: () => {} })
  const stats = new ReplicationStats()
  metrics.replication = () => stats
  let text = await metrics.scrape()
  t.equal(metricValue(text, 'skiff_replica_high_watermark'), undefined, 'no replica held: no series')

  stats.elections = 2
  stats.isrShrinks = 3
  stats.isrExpands = 1
  stats.handovers = 4
  stats.moves = 5
  const followers = (lag2: number, ms2: number, lag3: number, ms3: number) => [
    { broker: 2, records: lag2, ms: ms2, inSync: true },
    { broker: 3, records: lag3, ms: ms3, inSync: false },
  ]
  stats.set({ topic: 'orders', partition: 0, role: 'leader', leaderEpoch: 4, hw: 100, endOffset: 120, followers: followers(20, 0, 70, 12_000) })
  stats.set({ topic: 'audit', partition: 1, role: 'leader', leaderEpoch: 1, hw: 7, endOffset: 9, followers: followers(2, 500, 9, 3_000) })
  stats.set({ topic: 'audit', partition: 2, role: 'leader', leaderEpoch: 1, hw: 5, endOffset: 5, followers: followers(0, 0, 1, 8_000) })
  stats.set({ topic: 'orders', partition: 1, role: 'follower', leaderEpoch: 2, hw: 40, endOffset: 41, followers: [] })
  text = await metrics.scrape()

  t.equal(metricValue(text, 'skiff_cluster_elections_total'), 2)
  t.equal(metricValue(text, 'skiff_cluster_isr_shrinks_total'), 3)
  t.equal(metricValue(text, 'skiff_cluster_isr_expands_total'), 1)
  t.equal(metricValue(text, 'skiff_cluster_leader_handovers_total'), 4)
  t.equal(metricValue(text, 'skiff_cluster_partition_moves_total'), 5)

  // 'orders' was seen first and keeps its own series; 'audit' is past the budget of 1.
  t.equal(metricValue(text, 'skiff_replica_high_watermark', { topic: 'orders', partition: '0' }), 100)
  t.equal(metricValue(text, 'skiff_replica_high_watermark', { topic: 'orders', partition: '1' }), undefined, 'a partition this broker follows is not reported')
  t.equal(metricValue(text, 'skiff_replica_follower_lag_records', { topic: 'orders', partition: '0', follower: '3' }), 70)
  t.equal(metricValue(text, 'skiff_replica_follower_lag_seconds', { topic: 'orders', partition: '0', follower: '3' }), 12)
  t.equal(metricValue(text, 'skiff_replica_follower_lag_seconds', { topic: 'orders', partition: '0', follower: '2' }), 0)

  t.equal(metricValue(text, 'skiff_replica_high_watermark', { topic: '_other', partition: '_other' }), 12, 'folded high watermarks are summed')
  t.equal(metricValue(text, 'skiff_replica_follower_lag_records', { topic: '_other', follower: '3' }), 10, 'folded record lags are summed per follower')
  t.equal(metricValue(text, 'skiff_replica_follower_lag_seconds', { topic: '_other', follower: '3' }), 8, 'folded lag seconds: the largest per follower')
  t.equal(text.match(/^skiff_replica_follower_lag_records\{/gm)?.length, 4, 'one series per (partition, follower), the folded ones sharing theirs')

  stats.drop('orders', 0)
  text = await metrics.scrape()
  t.equal(metricValue(text, 'skiff_replica_high_watermark', { topic: 'orders', partition: '0' }), undefined, 'a partition no longer held leaves the scrape')
})

t.test('a single broker has no replication series', async (t) => {
  const metrics = new BrokerMetrics({ maxMetricTopics: 10, maxMetricGroups: 10, warn: () => {} })
  const text = await metrics.scrape()
  t.equal(metricValue(text, 'skiff_replica_follower_lag_records'), undefined)
  t.equal(metricValue(text, 'skiff_cluster_elections_total'), 0)
})
