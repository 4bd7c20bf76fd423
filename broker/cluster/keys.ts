/**
 * The cluster's keys in etcd (CLUSTER.md "etcd"), all under
 * `/skiff/<cluster>/`:
 *
 *   brokers/<id>              a live broker, bound to its lease (written by that broker)
 *   topics/<topic>            a topic's settings (written once, by whoever creates it: CAS on absence)
 *   partitions/<topic>/<p>    where a partition lives (written by its leader, or an election's winner)
 *
 * One writer per key: nothing else writes them. Broker ids are decimal, not
 * padded; a watcher tells the kinds apart by the segment after the prefix.
 */
import { MAX_BROKER_ID } from '../../protocol/frames/metadata.js'
import { MAX_STORED_TOPIC_NAME, nameProblem } from '../../protocol/names.js'

export interface ClusterKeys {
  /** `/skiff/<cluster>/`: everything a broker watches. */
  readonly prefix: string
  readonly brokers: string
  readonly topics: string
  readonly partitions: string
  broker(id: number): string
  topic(topic: string): string
  partition(topic: string, partition: number): string
  /** The prefix of every partition key of `topic` (not of `<topic>.dlq`'s: the slash ends the name). */
  partitionsOf(topic: string): string
}

/** Cluster names are what a user types into --cluster-name: kept to a safe alphabet, so a key can never climb out of its prefix. */
export const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

export function clusterKeys(cluster: string): ClusterKeys {
  if (!CLUSTER_NAME.test(cluster)) throw new Error(`cluster name must be 1-63 letters, digits, '.', '_' or '-' (starting with a letter or digit), not ${JSON.stringify(cluster)}`)
  const prefix = `/skiff/${cluster}/`
  return {
    prefix,
    brokers: `${prefix}brokers/`,
    topics: `${prefix}topics/`,
    partitions: `${prefix}partitions/`,
    broker: (id) => `${prefix}brokers/${id}`,
    topic: (topic) => `${prefix}topics/${topic}`,
    partition: (topic, partition) => `${prefix}partitions/${topic}/${partition}`,
    partitionsOf: (topic) => `${prefix}partitions/${topic}/`,
  }
}

/** What a key under the prefix names; undefined for a key of no kind we know (left alone). */
export type ParsedKey = { kind: 'broker'; id: number } | { kind: 'topic'; topic: string } | { kind: 'partition'; topic: string; partition: number }

export function parseKey(keys: ClusterKeys, key: string): ParsedKey | undefined {
  if (key.startsWith(keys.brokers)) {
    const rest = key.slice(keys.brokers.length)
    const id = /^(0|[1-9]\d{0,4})$/.test(rest) ? Number(rest) : -1
    return id >= 0 && id <= MAX_BROKER_ID ? { kind: 'broker', id } : undefined
  }
  if (key.startsWith(keys.topics)) {
    const topic = key.slice(keys.topics.length)
    return nameProblem(topic, MAX_STORED_TOPIC_NAME) === undefined ? { kind: 'topic', topic } : undefined
  }
  if (key.startsWith(keys.partitions)) {
    const rest = key.slice(keys.partitions.length)
    const slash = rest.lastIndexOf('/')
    const topic = rest.slice(0, slash)
    const p = rest.slice(slash + 1)
    if (slash <= 0 || nameProblem(topic, MAX_STORED_TOPIC_NAME) !== undefined || !/^(0|[1-9]\d{0,5})$/.test(p)) return undefined
    return { kind: 'partition', topic, partition: Number(p) }
  }
  return undefined
}
