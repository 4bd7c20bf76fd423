/**
 * The panel's data (GET /api/overview): one page of topics with their
 * partitions' sizes and end offsets, the consumer groups of those topics with
 * lag and in-flight counts per partition, and one page of the open
 * connections. Read-only; gathered from the workers with the same requests
 * the admin calls use.
 *
 *   /api/overview?offset=0&limit=100&connectionOffset=0&connectionLimit=100
 *
 * Decision: paginated, so the work of one request follows its page, not the
 * broker's size. Topics are sorted by name; `limit` defaults to 100 and is at
 * most 500 (a larger one is cut to 500, and the answer says the limit used);
 * only the page's topics' partitions are asked, all at once (the worker pool
 * batches them into one message per worker per turn). Connections are a page
 * of their own in connection-id order. The answer carries `totalTopics` and
 * `totalConnections` so a page can offer the next one. Before, one GET asked
 * every partition of every topic one after another and counted each group's
 * members over every connection: 2.2 s of CPU at 2,000-3,000 topics.
 *
 * Decision: a group's member count is the most members any of its partitions
 * has (a subscription joins every partition of its topic), as the workers
 * report it, instead of a walk over every connection's subscriptions.
 *
 * Decision: dead-letter topics are marked. A `<topic>.dlq` carries
 * `deadLetterOf` (its origin) and its origin carries `deadLetters` (the DLQ's
 * name and depth: end - start offsets summed over its partitions, i.e. the
 * dead letters still retained), asked of the workers even when the DLQ falls
 * on another page, so the origin's row always shows it.
 *
 * Decision: the rates shown beside each row come from two successive polls
 * (end offsets, acked counts); the rates over time are /api/rates
 * (panel/rate-history.ts), sampled from the Prometheus counters.
 *
 * Who may read it: see http-access.ts (with an auth file, a login with admin
 * or monitor). It carries topic and group names, user names and addresses,
 * no payloads and no credentials.
 */
import type { BrokerView, ClusterStatus } from './broker-view.js'
import { DLQ_SUFFIX, isDeadLetterTopic } from '../../protocol/index.js'
import type { TopicConfig } from '../thread-messages.js'

export const DEFAULT_PAGE = 100
export const MAX_PAGE = 500

export interface OverviewPage {
  offset: number
  limit: number
  connectionOffset: number
  connectionLimit: number
}

export interface PartitionOverview {
  partition: number
  startOffset: number
  endOffset: number
  bytes: number
}

export interface GroupPartitionOverview {
  partition: number
  lag: number
  inFlight: number
  committed: number
  members: number
}

export interface TopicOverview {
  topic: string
  partitions: PartitionOverview[]
  messages: number
  bytes: number
  /** Set on a dead-letter topic: the topic whose dead letters it holds. */
  deadLetterOf?: string
  /** Set on a topic whose dead-letter topic exists: its name and depth (messages in it). */
  deadLetters?: { topic: string; depth: number }
}

export interface GroupOverview {
  topic: string
  group: string
  members: number
  lag: number
  inFlight: number
  partitions: GroupPartitionOverview[]
}

export interface ConnectionOverview {
  id: number
  name: string
  user: string | undefined
  address: string
  subscriptions: number
  serves: number
}

export interface Overview extends OverviewPage {
  time: number
  totalTopics: number
  totalConnections: number
  topics: TopicOverview[]
  groups: GroupOverview[]
  connections: ConnectionOverview[]
  /** This broker in its cluster (absent for a single broker). */
  cluster?: ClusterStatus
}

/** The page a query string asks for, or a message saying what is wrong with it. */
export function parseOverviewPage(query: URLSearchParams): OverviewPage | string {
  const page: OverviewPage = { offset: 0, limit: DEFAULT_PAGE, connectionOffset: 0, connectionLimit: DEFAULT_PAGE }
  for (const key of Object.keys(page) as (keyof OverviewPage)[]) {
    const text = query.get(key)
    if (text === null) continue
    if (!/^\d{1,9}$/.test(text)) return `${key} must be a whole number, not ${JSON.stringify(text)}`
    page[key] = Number(text)
  }
  if (page.limit < 1 || page.connectionLimit < 1) return 'limit and connectionLimit must be at least 1'
  page.limit = Math.min(page.limit, MAX_PAGE)
  page.connectionLimit = Math.min(page.connectionLimit, MAX_PAGE)
  return page
}

const sum = <T>(list: T[], of: (x: T) => number) => list.reduce((a, x) => a + of(x), 0)

async function topicOverview(broker: BrokerView, t: TopicConfig): Promise<TopicOverview> {
  const parts = await broker.perPartition(t, (partition) => ({ t: 'describe', topic: t.topic, partition }))
  const partitions = parts.map((p) => ({ partition: p.partition, startOffset: p.startOffset, endOffset: p.endOffset, bytes: p.bytes }))
  return { topic: t.topic, partitions, messages: sum(partitions, (p) => p.endOffset - p.startOffset), bytes: sum(partitions, (p) => p.bytes) }
}

async function groupsOverview(broker: BrokerView, t: TopicConfig): Promise<GroupOverview[]> {
  const names = new Set<string>()
  for (const list of await broker.perPartition(t, (partition) => ({ t: 'groups', topic: t.topic, partition }))) for (const g of list) names.add(g)
  return Promise.all(
    [...names].sort().map(async (group) => {
      const described = await broker.perPartition(t, (partition) => ({ t: 'group', topic: t.topic, partition, group }))
      const partitions = described
        .filter((p) => p !== null)
        .map((p) => ({ partition: p.partition, lag: p.lag, inFlight: p.inFlight, committed: p.committed, members: p.members }))
      const members = Math.max(0, ...partitions.map((p) => p.members))
      return { topic: t.topic, group, members, lag: sum(partitions, (p) => p.lag), inFlight: sum(partitions, (p) => p.inFlight), partitions }
    }),
  )
}

async function markDeadLetters(broker: BrokerView, topics: TopicOverview[]): Promise<void> {
  const byName = new Map(topics.map((t) => [t.topic, t]))
  await Promise.all(
    topics.map(async (t) => {
      if (isDeadLetterTopic(t.topic)) t.deadLetterOf = t.topic.slice(0, -DLQ_SUFFIX.length)
      const dlqName = t.topic + DLQ_SUFFIX
      const dlq = byName.get(dlqName) ?? (broker.topics.get(dlqName) && (await topicOverview(broker, broker.topics.get(dlqName)!)))
      if (dlq) t.deadLetters = { topic: dlqName, depth: dlq.messages }
    }),
  )
}

function connectionsPage(broker: BrokerView, offset: number, limit: number): ConnectionOverview[] {
  const out: ConnectionOverview[] = []
  let i = 0
  for (const c of broker.connections.values()) {
    if (i++ < offset) continue
    if (out.length >= limit) break
    out.push({
      id: c.id,
      name: c.clientName,
      user: c.user?.user,
      address: `${c.socket.remoteAddress ?? '?'}:${c.socket.remotePort ?? '?'}`,
      subscriptions: c.subs.size,
      serves: c.served.size,
    })
  }
  return out
}

export async function buildOverview(broker: BrokerView, page: OverviewPage): Promise<Overview> {
  const all = broker.topics.list()
  const onPage = all.slice(page.offset, page.offset + page.limit)
  const [topics, groups] = await Promise.all([Promise.all(onPage.map((t) => topicOverview(broker, t))), Promise.all(onPage.map((t) => groupsOverview(broker, t)))])
  await markDeadLetters(broker, topics)
  const cluster = broker.cluster()
  return {
    time: Date.now(),
    ...page,
    totalTopics: all.length,
    totalConnections: broker.connections.size,
    topics,
    groups: groups.flat(),
    connections: connectionsPage(broker, page.connectionOffset, page.connectionLimit),
    ...(cluster ? { cluster } : {}),
  }
}
