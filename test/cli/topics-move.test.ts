/**
 * Moving partitions from the CLI, without a broker: how `skiff topics alter
 * --move P=ID,ID,...` reads its values (and refuses bad ones, naming them)
 * and says what it asked for, and how `skiff topics describe` and `skiff
 * cluster status` show a partition that is moving. The commands against a broker are in
 * test/e2e/admin-cli.test.ts.
 */
import t from 'tap'
import { alterText, describeText, parseMoves } from '../../cli/commands/topics.js'
import { clusterReport } from '../../cli/commands/cluster.js'
import { CliFailure } from '../../cli/commands/client-common.js'
import type { ClusterMetadata, TopicDescription } from '../../clients/index.js'

t.test('--move values become moves, in the order given', async (t) => {
  t.same(parseMoves(['0=2,3,4']), [{ partition: 0, replicas: [2, 3, 4] }])
  t.same(parseMoves(['0=2,3,4', '1=1,3,4']), [
    { partition: 0, replicas: [2, 3, 4] },
    { partition: 1, replicas: [1, 3, 4] },
  ])
  t.same(parseMoves(['7=5']), [{ partition: 7, replicas: [5] }], 'one broker (a topic with one copy)')
  t.same(parseMoves([' 2 = 4, 1 ,3 ']), [{ partition: 2, replicas: [4, 1, 3] }], 'spaces around the numbers; the order of the brokers is kept')
  t.same(parseMoves(['1023=0,65535']), [{ partition: 1023, replicas: [0, 65535] }], 'the largest partition and broker id')
  t.same(parseMoves([]), [])
})

t.test('a bad --move value is a CLI error naming it', async (t) => {
  const cases: [string[], string][] = [
    [['0'], '--move "0" must be PARTITION=BROKER,BROKER,... like 0=2,3,4 (the partition, then the ids of the brokers it moves to)'],
    [[''], '--move "" must be PARTITION=BROKER,BROKER,... like 0=2,3,4 (the partition, then the ids of the brokers it moves to)'],
    [['a=1,2'], '--move "a=1,2": partition "a" must be an integer from 0 to 1023'],
    [['=1,2'], '--move "=1,2": partition "" must be an integer from 0 to 1023'],
    [['-1=1,2'], '--move "-1=1,2": partition "-1" must be an integer from 0 to 1023'],
    [['1.5=1,2'], '--move "1.5=1,2": partition "1.5" must be an integer from 0 to 1023'],
    [['1024=1,2'], '--move "1024=1,2": partition "1024" must be an integer from 0 to 1023'],
    [['0='], '--move "0=": name the brokers partition 0 moves to, like 0=2,3,4'],
    [['3= '], '--move "3= ": name the brokers partition 3 moves to, like 3=2,3,4'],
    [['0=1,x'], '--move "0=1,x": broker id "x" must be an integer from 0 to 65535'],
    [['0=1,,2'], '--move "0=1,,2": broker id "" must be an integer from 0 to 65535'],
    [['0=1,2,'], '--move "0=1,2,": broker id "" must be an integer from 0 to 65535'],
    [['0=2.5'], '--move "0=2.5": broker id "2.5" must be an integer from 0 to 65535'],
    [['0=1e3'], '--move "0=1e3": broker id "1e3" must be an integer from 0 to 65535'],
    [['0=65536'], '--move "0=65536": broker id "65536" must be an integer from 0 to 65535'],
    [['0=1=2'], '--move "0=1=2": broker id "1=2" must be an integer from 0 to 65535'],
    [['0=1,2,1'], '--move "0=1,2,1": broker 1 is named twice'],
    [['0=2,3,4', '0=1,3,4'], '--move "0=1,3,4": partition 0 is moved by --move "0=2,3,4" already; give each partition once'],
    [['1=2,3', '01=2,3'], '--move "01=2,3": partition 1 is moved by --move "1=2,3" already; give each partition once'],
    [['0=' + Array.from({ length: 65 }, (_, i) => i + 1).join(',')], `--move "0=${Array.from({ length: 65 }, (_, i) => i + 1).join(',')}": at most 64 brokers, got 65`],
    [Array.from({ length: 129 }, (_, i) => `${i}=1`), 'at most 128 --move options at a time, got 129'],
  ]
  for (const [values, message] of cases) {
    const err = refusal(() => parseMoves(values))
    t.ok(err instanceof CliFailure, 'a CLI error: one line, no stack')
    t.equal(err?.message, message, values.length > 3 ? `${values.length} values` : values.join(' ').slice(0, 40))
  }
})

function refusal(fn: () => unknown): Error | undefined {
  try {
    fn()
  } catch (err) {
    return err as Error
  }
  return undefined
}

const placement = (movingTo?: number[]) => ({ partition: 0, leader: 1, leaderEpoch: 2, replicas: movingTo ? [1, 2, 3, 4] : [1, 2, 3], isr: [1, 2, 3], ...(movingTo && { movingTo }) })

function description(placements: TopicDescription['placement']): TopicDescription {
  return {
    topic: 'orders',
    partitions: placements!.length,
    retentionMs: 0,
    retentionBytes: 0,
    segmentBytes: 64 * 2 ** 20,
    replicationFactor: 3,
    minInSync: 2,
    partitionInfo: [{ partition: 0, startOffset: 0, endOffset: 5, bytes: 100, segments: 1, corrupt: [] }],
    placement: placements,
  }
}

t.test('topics alter says which partitions move where, and where from', async (t) => {
  const before = description([placement(), { ...placement(), partition: 1, leader: 2 }])
  const after = description([placement([2, 3, 4]), { ...placement([1, 3, 4]), partition: 1, leader: 2 }])
  t.equal(
    alterText(before, after, [
      { partition: 0, replicas: [2, 3, 4] },
      { partition: 1, replicas: [1, 3, 4] },
    ]),
    'altered topic orders: moving 2 partitions\n' +
      '  moving partition 0 to brokers 2,3,4 (from 1,2,3)\n' +
      '  moving partition 1 to brokers 1,3,4 (from 1,2,3)\n' +
      'the moves are under way: skiff topics describe orders shows each as moving until done\n',
  )
  t.equal(
    alterText(before, { ...after, retentionMs: 3 * 86_400_000 }, [{ partition: 0, replicas: [2, 3, 4] }]),
    'altered topic orders: retention forever -> 3 days, moving 1 partition\n' +
      '  moving partition 0 to brokers 2,3,4 (from 1,2,3)\n' +
      'the move is under way: skiff topics describe orders shows it as moving until done\n',
    'with another change',
  )
  t.equal(
    alterText({ ...before, placement: undefined }, after, [{ partition: 0, replicas: [2, 3, 4] }]),
    'altered topic orders: moving 1 partition\n  moving partition 0 to brokers 2,3,4\nthe move is under way: skiff topics describe orders shows it as moving until done\n',
    'no "from" without a placement before',
  )
  t.equal(alterText(before, { ...before, partitions: 3 }, []), 'altered topic orders: partitions 2 -> 3\n', 'without moves, as before')
  t.equal(
    alterText(before, before, [{ partition: 0, replicas: [3, 2, 1] }]),
    'altered topic orders: nothing changed\n  partition 0 is on brokers 3,2,1 already\n',
    'a move to the brokers a partition is on changes nothing',
  )
  const underWay = description([placement([2, 3, 4]), { ...placement([1, 3, 4]), partition: 1, leader: 2 }])
  t.equal(
    alterText(underWay, underWay, [{ partition: 0, replicas: [2, 3, 4] }]),
    'altered topic orders: nothing changed\n  partition 0 is moving to brokers 2,3,4 already\nthe move is under way: skiff topics describe orders shows it as moving until done\n',
    'nor does the move under way',
  )
  t.equal(
    alterText(underWay, description([placement([2, 3, 4]), { ...placement([1, 2, 4]), partition: 1, leader: 2 }]), [
      { partition: 0, replicas: [2, 3, 4] },
      { partition: 1, replicas: [1, 2, 4] },
    ]),
    'altered topic orders: moving 1 partition\n' +
      '  partition 0 is moving to brokers 2,3,4 already\n' +
      '  moving partition 1 to brokers 1,2,4 (instead of 1,3,4)\n' +
      'the moves are under way: skiff topics describe orders shows each as moving until done\n',
    'a new move replaces the one under way',
  )
})

t.test('topics describe names the brokers a moving partition goes to', async (t) => {
  const text = describeText(description([placement([2, 3, 4]), { ...placement(), partition: 1, leader: 2 }]))
  t.match(text, /^0\s+1\s+1,2,3,4\s+1,2,3\s+0\s+5\s+5\s/m, 'its REPLICAS are the old and the new brokers')
  t.match(text, /^1\s+2\s+1,2,3\s+1,2,3\s+-/m)
  t.match(text, /\n {2}partition 0: moving to 2,3,4\n$/, 'a line under the table says where it goes')
  t.notMatch(text, /partition 1: moving/, 'a partition that stays says nothing')
  t.notMatch(describeText(description([placement()])), /moving/, 'nothing while no partition moves')
})

t.test('cluster status lists the moving partitions', async (t) => {
  const md: ClusterMetadata = {
    clusterId: 'test',
    revision: 4,
    brokers: [1, 2, 3, 4].map((id) => ({ id, host: 'h', port: 1 })),
    topics: [{ topic: 'orders', partitions: [placement([2, 3, 4]), { ...placement(), partition: 1 }] }],
  }
  const r = clusterReport(md)
  t.same(r.moving, [{ topic: 'orders', partition: 0, leader: 1, replicas: [1, 2, 3, 4], isr: [1, 2, 3], movingTo: [2, 3, 4] }])
  t.same(clusterReport({ ...md, topics: [{ topic: 'orders', partitions: [placement()] }] }).moving, [], 'none while nothing moves')
})
