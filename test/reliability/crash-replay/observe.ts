/**
 * Start a real broker (its own process, the built `skiff broker`) on a disk
 * state and write down what a user would see: which topics exist, every
 * record a fresh group reads, where the workload's group resumes and what it
 * is delivered, and the warnings the broker logs. What the user *should* see
 * at a given cut point is checker.ts's business: one observation serves every
 * cut point that leaves the same disk.
 */
import { connect, type Client } from '../../../clients/index.js'
import { BrokerRunner, sleep, timeout } from '../harness.js'
import type { WorkloadSpec } from './workload.js'

export interface Observation {
  /** Why the broker did not start (no `listening` line, an exit), or undefined when it did. */
  startError?: string
  /** A request that failed once it had started (a connection closed, an error answer). */
  serveError?: string
  topics: string[]
  /** `topic/partition/offset` -> payload, as a fresh group reads it (the workload's topics and its group's dead-letter topic). */
  records: Map<string, string>
  /** Committed floor of the workload's group per partition, before it resubscribes; absent when the broker knows no such group. */
  committed: Map<number, number>
  /** `partition/offset` delivered to the workload's group when it resubscribes. */
  delivered: Set<string>
  /** `level: msg` of every warn and error line the broker logged. */
  warnings: string[]
  ms: number
}

/** How long one read may take; the states are a few dozen records, so this is generous. */
const READ_MS = 5_000
/** A reader that got nothing for this long has everything. */
const IDLE_MS = 500

/** One worker is enough to read a few dozen records back; fsync is the default (always). */
const BROKER_ARGS = ['--workers', '1', '--no-udp', '--log-level', 'info']

export async function observe(dataDir: string, spec: WorkloadSpec): Promise<Observation> {
  const started = performance.now()
  const obs: Observation = { topics: [], records: new Map(), committed: new Map(), delivered: new Set(), warnings: [], ms: 0 }
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, ...BROKER_ARGS] })
  let client: Client | undefined
  try {
    try {
      await broker.start()
    } catch (err) {
      obs.startError = (err as Error).message.slice(0, 300)
      return obs
    }
    try {
      client = await connect(broker.url, { reconnect: false, drainTimeoutMs: 100 })
      client.on('error', () => {})
      obs.topics = (await client.admin.listTopics()).map((t) => t.topic).sort()
      const groupTopic = spec.topics[0]!.topic
      const wanted = [...spec.topics.map((t) => t.topic), `${groupTopic}.dlq`]
      await Promise.all([
        ...wanted.filter((t) => obs.topics.includes(t)).map((t) => readAll(client!, t, obs)),
        obs.topics.includes(groupTopic) ? resumeGroup(client, groupTopic, spec, obs) : Promise.resolve(),
      ])
    } catch (err) {
      obs.serveError = (err as Error).message.slice(0, 300)
    }
  } finally {
    await broker.kill()
    await client?.close().catch(() => {})
    obs.warnings = broker.lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => `${String(l.level)}: ${String(l.msg)}`)
    obs.ms = performance.now() - started
  }
  return obs
}

/** Every record of `topic`, read by a group that never existed. */
async function readAll(client: Client, topic: string, obs: Observation): Promise<void> {
  const d = await client.admin.describeTopic(topic)
  const stored = d.partitionInfo.reduce((n, p) => n + p.endOffset - p.startOffset, 0)
  if (stored === 0) return
  const consumer = await client.subscribe(topic, { group: `crash-audit-${topic}`, from: 'earliest', maxInFlight: 1000 })
  const deadline = Date.now() + READ_MS
  let read = 0
  while (read < stored && Date.now() < deadline) {
    const next = await Promise.race([consumer.next(), timeout(IDLE_MS).then(() => undefined)])
    if (!next || next.done) break
    obs.records.set(`${topic}/${next.value.partition}/${next.value.offset}`, next.value.payload.toString())
    read++
  }
  await consumer.close({ timeoutMs: 0 })
}

/**
 * Where the workload's group stands (describeGroup, before any member joins),
 * then everything it is delivered when it subscribes again as the workload
 * did (same start position), acking nothing. Done when the group has handed
 * out every offset (next = end) and the member holds all it was sent, twice
 * in a row.
 */
async function resumeGroup(client: Client, topic: string, spec: WorkloadSpec, obs: Observation): Promise<void> {
  const { group } = spec
  try {
    for (const p of (await client.admin.describeGroup(topic, group)).partitions) obs.committed.set(p.partition, p.committed)
  } catch {
    // UNKNOWN_GROUP: the broker has no state for it; `committed` stays empty.
  }
  const consumer = await client.subscribe(topic, { group, from: spec.groupStart, maxInFlight: 1000 })
  const deadline = Date.now() + READ_MS
  let settledPolls = 0
  const taking = (async () => {
    while (Date.now() < deadline) {
      const next = await Promise.race([consumer.next(), timeout(IDLE_MS).then(() => undefined)])
      if (!next) continue
      if (next.done) return
      obs.delivered.add(`${next.value.partition}/${next.value.offset}`)
    }
  })()
  while (settledPolls < 2 && Date.now() < deadline) {
    await sleep(60)
    const d = await client.admin.describeGroup(topic, group)
    const done = d.partitions.every((p) => p.next >= p.endOffset) && d.partitions.reduce((n, p) => n + p.inFlight, 0) === obs.delivered.size
    settledPolls = done ? settledPolls + 1 : 0
  }
  await consumer.close({ timeoutMs: 0 })
  await taking
}
