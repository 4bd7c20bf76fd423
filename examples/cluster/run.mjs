/**
 * Cluster: three etcd members and three brokers; a producer and a consumer
 * connected with the three brokers as seeds. Broker 2 is killed while they
 * run and started again: the producer's orders for its partitions go to the
 * followers elected in its place, the consumer carries on without
 * re-subscribing, and every confirmed order is consumed.
 */
// Demo scaffolding: a throwaway cluster on this machine (lib/cluster-runner.mjs); in production
// etcd and each broker run as services (docs/cluster.md), and these parts get the brokers in SKIFF_URL.
import fs from 'node:fs'
import { check, runExample } from '../lib/demo-runner.mjs'
import { ETCD, startCluster } from '../lib/cluster-runner.mjs'

const here = (f) => new URL(f, import.meta.url).pathname

if (!fs.existsSync(ETCD)) {
  console.error(`cluster: needs etcd at ${ETCD} (Debian: apt-get install etcd-server)`)
  process.exit(1)
}

await runExample(
  'cluster',
  async (ctx) => {
    const cluster = await startCluster()
    try {
      const env = { SKIFF_URL: cluster.seeds }
      const admin = ctx.part('setup', here('setup.mjs'), [], env)
      await admin.result()
      const consumer = ctx.part('consumer', here('consumer.mjs'), [], env)
      await consumer.waitFor(/subscribed/)
      const producer = ctx.part('producer', here('producer.mjs'), [], env)
      await producer.waitFor(/published 200/, 30_000)
      console.log('killing broker 2')
      await cluster.brokers[1].kill()
      await new Promise((r) => setTimeout(r, 2000))
      console.log('starting broker 2 again')
      await cluster.brokers[1].start()
      const sent = await producer.result(60_000)
      const want = new Set(sent.confirmed)
      // The consumer prints every hundredth distinct order: wait for the last hundred, then a little more.
      const last = `received ${Math.floor(want.size / 100) * 100}`
      for (let i = 0; i < 300 && !consumer.lines.includes(last); i++) await new Promise((r) => setTimeout(r, 100))
      await new Promise((r) => setTimeout(r, 1000))
      await consumer.stop()
      const got = await consumer.result()
      const missing = [...want].filter((id) => !got.ids.includes(id))
      check(sent.failed.length === 0, `every publish confirmed (failed: ${sent.failed.join(', ')})`)
      check(missing.length === 0, `every confirmed order consumed (missing ${missing.length}: ${missing.slice(0, 5).join(', ')})`)
      return `${want.size}/${want.size} confirmed orders consumed across a broker restart (${got.repeats} redelivered after the restart)`
    } finally {
      cluster.stop()
    }
  },
  { timeoutMs: 120_000, broker: false },
)
