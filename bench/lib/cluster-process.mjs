/**
 * A cluster under test (`skiff bench <S> --cluster N`): one etcd member and N
 * brokers on this machine, each broker as startBrokerProcess starts one, with
 * the same options plus --cluster. It looks like one broker to the workload:
 * `url` is the seed list, and `sample()` adds the brokers' CPU and their peak
 * RSS, so "broker CPU per message" is the whole cluster's.
 *
 * Decision: one etcd member, not three. etcd is off the data path (brokers
 * talk to it at start, on topic creation and for lease renewals), and on a
 * 2-core machine two more members would only take cores from the brokers.
 */
import { startBrokerProcess } from './broker-process.mjs'
import { startEtcd } from './etcd-process.mjs'
import { CLIENT_MODULE } from './paths.mjs'

/**
 * Broker `id` of the cluster whose etcd is `etcd` (named `clusterName`), as
 * startBrokerProcess starts one with `opts`.
 */
export function startClusterBroker(etcd, id, opts = {}, clusterName = 'bench') {
  return startBrokerProcess({ ...opts, extraArgs: [...(opts.extraArgs ?? []), '--cluster', `etcd://${etcd.endpoints}`, '--broker-id', String(id), '--cluster-name', clusterName] })
}

export async function startClusterProcesses(size, opts = {}) {
  const etcd = await startEtcd(1)
  const brokers = []
  try {
    for (let id = 1; id <= size; id++) {
      brokers.push(await startClusterBroker(etcd, id, opts))
    }
  } catch (err) {
    await Promise.all(brokers.map((b) => b.stop()))
    etcd.stop()
    throw err
  }
  const add = (samples, key) => (samples.some((s) => s[key] === null) ? null : samples.reduce((a, s) => a + s[key], 0))
  return {
    pid: brokers[0].pid,
    port: brokers[0].port,
    httpPort: brokers[0].httpPort,
    udpPort: brokers[0].udpPort,
    url: brokers.map((b) => b.url).join(','),
    brokers: size,
    sample() {
      const samples = brokers.map((b) => b.sample())
      return { peakRssMiB: add(samples, 'peakRssMiB'), cpuSeconds: add(samples, 'cpuSeconds'), mainThreadCpuSeconds: add(samples, 'mainThreadCpuSeconds') }
    },
    logTail: () => brokers.flatMap((b, i) => b.logTail().map((l) => `[broker ${i + 1}] ${l}`)),
    async stop() {
      await Promise.all(brokers.map((b) => b.stop()))
      etcd.stop()
    },
  }
}

/**
 * Make `topics` on the cluster at `url` with these partitions and copies
 * (`skiff bench --cluster N --replication-factor R`), before anything
 * publishes to them. Resolves to what the cluster says it made:
 * { replicationFactor, minInSync } of the first topic.
 */
export async function createClusterTopics(url, topics, { partitions, replicationFactor }) {
  const { connect } = await import(CLIENT_MODULE)
  const client = await connect(url.split(','))
  try {
    const made = []
    for (const topic of topics) made.push(await client.admin.createTopic(topic, { partitions, replicationFactor }))
    return { replicationFactor: made[0].replicationFactor, minInSync: made[0].minInSync }
  } finally {
    await client.close()
  }
}
