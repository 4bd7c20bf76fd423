/**
 * The scenarios, S1-S9, exactly as bench/README.md defines them. Each has the
 * full size (`--full`, what RESULTS.md records) and a quick size (`npm run
 * bench`: the same shape, fewer messages, so S1-S7 finish in under 2 minutes
 * on a 2-core machine). The shapes never change between modes: connection
 * counts, payload sizes, in-flight limits and rates are the same.
 *
 * Placement on processes (the definitions say connections, not processes):
 * every consumer connection has its own process; S4's 200 producer
 * connections share 4 processes of 50, because 200 Node processes would
 * measure process scheduling, not the broker.
 */
import os from 'node:os'

/** The broker's own default (DESIGN.md): max(1, cores - 1). */
export const DEFAULT_WORKERS = Math.max(1, os.availableParallelism() - 1)

const TOPIC = 'bench'

/** S1's shape, reused by S8 and S9. */
function durableAck({ messages, workers = DEFAULT_WORKERS, fsync = 'always', partitions = 1 }) {
  return {
    broker: { workers, fsync, partitions },
    topic: TOPIC,
    producers: { processes: 1, connections: 1, messages, size: 128, confirm: true, maxInFlight: 1000 },
    consumers: [{ group: 'g1', processes: 1, connections: 1, maxInFlight: 1000 }],
    timeLimitMs: 120_000,
  }
}

/** S3's shape, reused by S8. */
function fanOut({ messages, workers = DEFAULT_WORKERS, partitions = 1 }) {
  return {
    broker: { workers, fsync: 'always', partitions },
    topic: TOPIC,
    producers: { processes: 1, connections: 1, messages, size: 128, confirm: true, maxInFlight: 1000 },
    consumers: [1, 2, 3, 4].map((g) => ({ group: `g${g}`, processes: 1, connections: 1, maxInFlight: 1000 })),
    timeLimitMs: 120_000,
  }
}

/**
 * id, name, the result field it is judged by (`metric`, which a run may
 * override), its target (if the issue sets one) and its runs: a list of
 * { variant, workload, metric? } for full or quick mode.
 */
export const SCENARIOS = [
  {
    id: 'S1',
    name: 'durable-ack',
    metric: 'msgsPerSec',
    target: { value: 350_000, text: '>= 350,000 msgs/s' },
    repeatFull: 5,
    runs: (full) => [{ variant: `${full ? '200,000' : '50,000'} x 128 B`, workload: durableAck({ messages: full ? 200_000 : 50_000 }) }],
  },
  {
    id: 'S2',
    name: 'fire-and-forget',
    metric: 'msgsPerSec',
    target: { value: 1_000_000, text: '>= 1,000,000 msgs/s' },
    runs: (full) => [
      {
        variant: `${full ? '1,000,000' : '200,000'} x 64 B`,
        workload: {
          broker: { workers: DEFAULT_WORKERS, fsync: 'always' },
          topic: TOPIC,
          producers: { processes: 1, connections: 1, messages: full ? 1_000_000 : 200_000, size: 64, confirm: false },
          // No acks: the subscriber is at-most-once (ack 'none'). Credits still bound what waits in it;
          // 10,000 received as fast as 100,000 did and kept the broker ~130 MiB smaller.
          consumers: [{ group: 'g1', processes: 1, connections: 1, maxInFlight: 10_000, ack: 'none' }],
          timeLimitMs: 120_000,
        },
      },
    ],
  },
  {
    id: 'S3',
    name: 'fan-out',
    metric: 'deliveriesPerSec',
    target: { value: 500_000, text: '>= 500,000 deliveries/s' },
    runs: (full) => [{ variant: `${full ? '100,000' : '25,000'} x 128 B, 4 groups`, workload: fanOut({ messages: full ? 100_000 : 25_000 }) }],
  },
  {
    id: 'S4',
    name: 'many-connections',
    metric: 'msgsPerSec',
    target: { value: 150_000, text: '>= 150,000 msgs/s' },
    runs: (full) => [
      {
        variant: `200 conns x ${full ? 500 : 100}, 4 consumers`,
        workload: {
          broker: { workers: DEFAULT_WORKERS, fsync: 'always' },
          topic: TOPIC,
          producers: { processes: 4, connections: 50, messages: full ? 500 : 100, size: 128, confirm: true, maxInFlight: 1000 },
          consumers: [{ group: 'g1', processes: 4, connections: 1, maxInFlight: 1000 }],
          timeLimitMs: 120_000,
        },
      },
    ],
  },
  {
    id: 'S5',
    name: 'fixed-rate-latency',
    metric: 'p99',
    target: { value: 2, text: 'p99 < 2 ms', below: true },
    runs: (full) => [
      {
        variant: `10,000/s for ${full ? 10 : 3} s`,
        workload: {
          broker: { workers: DEFAULT_WORKERS, fsync: 'always' },
          topic: TOPIC,
          producers: { processes: 1, connections: 1, size: 128, confirm: true, maxInFlight: 1000, rate: 10_000, durationMs: full ? 10_000 : 3_000 },
          consumers: [{ group: 'g1', processes: 1, connections: 1, maxInFlight: 1000 }],
          timeLimitMs: 60_000,
        },
      },
    ],
  },
  {
    id: 'S6',
    name: 'large-messages',
    metric: 'mbPerSec',
    runs: (full) => [
      {
        variant: `${full ? '5,000' : '1,000'} x 64 KiB`,
        workload: {
          broker: { workers: DEFAULT_WORKERS, fsync: 'always' },
          topic: TOPIC,
          producers: { processes: 1, connections: 1, messages: full ? 5_000 : 1_000, size: 64 * 1024, confirm: true, maxInFlight: 1000 },
          consumers: [{ group: 'g1', processes: 1, connections: 1, maxInFlight: 1000 }],
          timeLimitMs: 120_000,
        },
      },
    ],
  },
  {
    id: 'S7',
    name: 'udp-telemetry',
    metric: 'receivedFraction',
    runs: (full) => [
      {
        variant: `50,000 readings/s x 64 B for ${full ? 5 : 2} s`,
        workload: {
          broker: { workers: DEFAULT_WORKERS, fsync: 'always' },
          topic: 'telemetry',
          telemetry: { rate: 50_000, durationMs: full ? 5_000 : 2_000, size: 64 },
          consumers: [{ group: 'g1', processes: 1, connections: 1, maxInFlight: 10_000 }],
          timeLimitMs: 60_000,
        },
      },
    ],
  },
  {
    id: 'S8',
    name: 'pool-scaling',
    metric: 'msgsPerSec',
    // A partition has exactly one owning worker, so on S1's single partition
    // extra workers would sit idle by construction: S8 spreads the topic over
    // 4 partitions (records without a key go round-robin per batch).
    runs: (full) =>
      [1, 2, 3, 4].flatMap((workers) => [
        { variant: `S1, 4 partitions, ${workers} worker${workers > 1 ? 's' : ''}`, workload: durableAck({ messages: full ? 200_000 : 50_000, workers, partitions: 4 }) },
        {
          variant: `S3, 4 partitions, ${workers} worker${workers > 1 ? 's' : ''}`,
          metric: 'deliveriesPerSec',
          workload: fanOut({ messages: full ? 100_000 : 25_000, workers, partitions: 4 }),
        },
      ]),
  },
  {
    id: 'S9',
    name: 'fsync-policy',
    metric: 'msgsPerSec',
    runs: (full) =>
      ['always', 'interval:100', 'never'].map((fsync) => ({ variant: `S1, fsync ${fsync}`, workload: durableAck({ messages: full ? 200_000 : 50_000, fsync }) })),
  },
]

export const QUICK_SET = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7']

/** 'S1', 's1', '1' or 'durable-ack' -> the scenario; undefined when unknown. */
export function findScenario(name) {
  const n = String(name).toLowerCase()
  return SCENARIOS.find((s) => s.id.toLowerCase() === n || s.id.slice(1) === n || s.name === n)
}
