/**
 * A cluster on this machine for tests: etcd members (etcd-harness.ts) and
 * `skiff broker` processes joined through them, each on a fixed loopback
 * port and its own data directory, so a broker can be SIGKILLed, paused and
 * started again as a real daemon would be. Everything is stopped and removed
 * at teardown.
 */
import path from 'node:path'
import { Client, parseBrokerUrls, type ConnectOptions } from '../../clients/index.js'
import { BrokerRunner, metricValue, tempDir, until } from '../reliability/harness.js'
import { EtcdCluster, etcdMissing } from './etcd-harness.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface BrokerCluster {
  etcd: EtcdCluster
  /** brokers[i] has broker id i + 1. */
  brokers: BrokerRunner[]
  /** Every broker's URL, as a client takes seeds. */
  seeds: string[]
}

/** Why cluster tests cannot run here (etcd is not installed), or false. */
export const clusterMissing = (): false | string => etcdMissing()

export async function startCluster(t: Teardown, opts: { brokers: number; etcdMembers?: 1 | 3; args?: string[] }): Promise<BrokerCluster> {
  const etcd = await EtcdCluster.start(opts.etcdMembers ?? 3)
  t.teardown(() => etcd.stop())
  const dir = tempDir(t, 'cluster')
  const brokers: BrokerRunner[] = []
  for (let i = 0; i < opts.brokers; i++) {
    const dataDir = path.join(dir, `b${i + 1}`)
    const b = await BrokerRunner.create({
      dataDir,
      args: ['--data-dir', dataDir, '--cluster', etcd.endpoints, '--broker-id', String(i + 1), '--cluster-name', 'test', '--workers', '1', ...(opts.args ?? [])],
    })
    t.teardown(() => b.kill())
    brokers.push(b)
  }
  await Promise.all(brokers.map((b) => b.start()))
  // Started together, a broker may not have seen the others register yet: a topic it placed
  // then would skip them. Ready when every broker counts them all (its metrics need no login,
  // whatever auth or TLS the cluster runs with).
  for (const [i, b] of brokers.entries()) {
    const seen = async () => {
      const text = await b.metrics()
      return text !== undefined && metricValue(text, 'skiff_cluster_brokers', { broker: String(i + 1) }) === brokers.length
    }
    if (!(await until(seen, 10_000))) throw new Error(`broker ${i + 1} did not see all ${brokers.length} brokers within 10 s`)
  }
  return { etcd, brokers, seeds: brokers.map((b) => b.url) }
}

/**
 * A client of exactly the broker at `url`, as a client of a single broker is:
 * it does not route by METADATA. For tests that address one broker on
 * purpose, to see it refuse what it does not lead; connect() routes.
 */
export async function connectDirect(url: string, opts: ConnectOptions): Promise<Client> {
  const client = new Client(parseBrokerUrls(url), opts, false)
  await client.start()
  return client
}
