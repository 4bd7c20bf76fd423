/**
 * What the traced broker is made to do: create topics, publish with confirm
 * (a few at a time, so some share one group commit; one topic with small
 * segments, so a segment rolls), and run one consumer group that acks most of
 * what it gets, holds a few, and terms one (a dead letter, so the worker
 * creates the dead-letter topic), with pauses so its state is saved several
 * times. Returns what the clients saw; replies.ts finds when the broker said
 * each thing, from the trace.
 *
 * Each producer client creates its own topic and publishes to it alone, and
 * the one consumer subscribes one group to one topic: that is how replies.ts
 * attributes frames to topics (see there). Every wait is bounded.
 */
import { connect, type Client, type Consumer } from '../../../clients/index.js'
import { timeout } from '../harness.js'

export interface WorkloadTopic {
  topic: string
  partitions: number
  /** Confirmed publishes, in rounds of `concurrency` at once. */
  publishes: number
  /** The topic's segment size (the broker's least is 4096), to make it roll. */
  segmentBytes?: number
  /** Bytes added to each payload. */
  padding?: number
}

export interface WorkloadSpec {
  topics: WorkloadTopic[]
  /** Publishes awaited together (one PUBLISH batch and one fsync, mostly). */
  concurrency: number
  /** The consumer group, on topics[0]; it subscribes before anything is published there. */
  group: string
  /** Where the group starts when it is new: the client's default, 'latest', unless changed. Used again when it resubscribes after the crash. */
  groupStart: 'latest' | 'earliest'
  /** Offsets the group never acks (held until the end), as `offset % holdEvery === holdEvery - 1`. */
  holdEvery: number
  /** The offset the group terms (dead-letters at once). */
  termOffset: number
  /** Pause after each round of the group topic's second half, so group saves fall between them. */
  pauseMs: number
}

export const DEFAULT_WORKLOAD: WorkloadSpec = {
  topics: [
    { topic: 'alpha', partitions: 1, publishes: 12 },
    { topic: 'bravo', partitions: 2, publishes: 10 },
    { topic: 'charlie', partitions: 1, publishes: 8, segmentBytes: 4096, padding: 700 },
  ],
  concurrency: 2,
  group: 'g',
  groupStart: 'latest',
  holdEvery: 4,
  termOffset: 1,
  pauseMs: 80,
}

export interface PublishedRecord {
  topic: string
  partition: number
  offset: number
  payload: string
}

export interface WorkloadFacts {
  spec: WorkloadSpec
  published: PublishedRecord[]
  /** `partition/offset` of the group's topic that the consumer acked. */
  acked: Set<string>
  /** `partition/offset` of the group's topic that the consumer termed. */
  termed: Set<string>
  /** Records the consumer received (first deliveries and any redelivery). */
  received: number
}

export async function runWorkload(url: string, spec: WorkloadSpec = DEFAULT_WORKLOAD): Promise<WorkloadFacts> {
  const facts: WorkloadFacts = { spec, published: [], acked: new Set(), termed: new Set(), received: 0 }
  const clients: Client[] = []
  const open = async () => {
    const c = await connect(url, { reconnect: false, drainTimeoutMs: 500 })
    c.on('error', () => {})
    clients.push(c)
    return c
  }
  try {
    const [first, ...rest] = spec.topics
    const groupTopic = first!
    const publishSome = async (client: Client, t: WorkloadTopic, from: number, to: number, pauseMs = 0) => {
      const producer = client.producer({ maxInFlight: 100 })
      for (let i = from; i < to; i += spec.concurrency) {
        const round = []
        for (let j = i; j < Math.min(to, i + spec.concurrency); j++) {
          const payload = `${t.topic}-${j}${'.'.repeat(t.padding ?? 0)}`
          round.push(producer.publish(t.topic, payload, { key: `k${j % 5}` }).then((r) => facts.published.push({ topic: t.topic, ...r, payload })))
        }
        await Promise.all(round)
        if (pauseMs > 0) await timeout(pauseMs)
      }
    }
    const create = (client: Client, t: WorkloadTopic) =>
      client.admin.createTopic(t.topic, { partitions: t.partitions, ...(t.segmentBytes ? { segmentBytes: t.segmentBytes } : {}) })
    // The group's topic first, its group subscribed before anything is published there, then half its publishes.
    const groupProducer = await open()
    await create(groupProducer, groupTopic)
    const consumerClient = await open()
    const consumer = await consumerClient.subscribe(groupTopic.topic, { group: spec.group, from: spec.groupStart, maxInFlight: 100 })
    const consuming = consume(consumer, spec, facts, groupTopic.publishes)
    const half = Math.ceil(groupTopic.publishes / 2)
    await publishSome(groupProducer, groupTopic, 0, half)
    for (const t of rest) {
      const client = await open()
      await create(client, t)
      await publishSome(client, t, 0, t.publishes)
    }
    await publishSome(groupProducer, groupTopic, half, groupTopic.publishes, spec.pauseMs)
    await consuming
    await consumer.close({ timeoutMs: 100 })
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})))
  }
  return facts
}

/** Take `expected` first deliveries (bounded, 15 s): ack all but the held ones and the termed one; then wait for a group save. */
async function consume(consumer: Consumer, spec: WorkloadSpec, facts: WorkloadFacts, expected: number): Promise<void> {
  const firsts = new Set<string>()
  const deadline = Date.now() + 15_000
  while (firsts.size < expected && Date.now() < deadline) {
    const next = await Promise.race([consumer.next(), timeout(Math.max(1, deadline - Date.now())).then(() => undefined)])
    if (!next || next.done) break
    const m = next.value
    facts.received++
    const where = `${m.partition}/${m.offset}`
    firsts.add(where)
    if (m.offset === spec.termOffset) {
      m.term()
      facts.termed.add(where)
    } else if (m.offset % spec.holdEvery !== spec.holdEvery - 1) {
      m.ack()
      facts.acked.add(where)
    }
  }
  // Long enough for the worker's group-commit timer to save the last acks.
  await timeout(300)
}
