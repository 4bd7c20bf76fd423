/**
 * A partition that falls below minInSync, through the routing client: three
 * copies, minInSync 3, a keyed idempotent producer publishing while a
 * follower is SIGKILLed and, once the in-sync set has shrunk, started again.
 *
 * The leader cannot confirm while the dead follower is still counted; once
 * it shrinks it out, it fails what it had appended and not replicated with
 * NOT_ENOUGH_REPLICAS ("may be stored: resend it with the same sequence")
 * and refuses new publishes the same way. The client holds those batches and
 * sends them again, with the same producer id and sequence, until the
 * follower is back in sync. What a user relies on: every publish made
 * meanwhile is confirmed within its requestTimeoutMs, each record is stored
 * once, and each key's records are stored in publish order.
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { sleep, until } from '../reliability/harness.js'
import { check, type Confirmed } from './checker.js'
import { ID_HEADER, readBack } from './read-back.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'

const TOPIC = 'strict'
const KEYS = 6

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('below minInSync: refused batches are held and sent again with their sequence until the in-sync set is back, each stored once', async (t) => {
    const cluster = await startCluster(t, { brokers: 3, args: ['--no-udp', '--group-commit-ms', '5'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'strict-admin' })
    await admin.admin.createTopic(TOPIC, { partitions: 1, replicationFactor: 3, minInSync: 3 })
    const isrSize = async (): Promise<number> => (await admin.admin.metadata([TOPIC])).topics[0]?.partitions[0]?.isr.length ?? 0
    t.ok(await until(async () => (await isrSize()) === 3, 10_000), 'three copies in sync')
    const leader = (await admin.admin.metadata([TOPIC])).topics[0]!.partitions[0]!.leader
    const follower = [1, 2, 3].find((id) => id !== leader)!
    t.teardown(() => admin.close().catch(() => {}))

    const client = await connect(cluster.seeds, { name: 'strict', requestTimeoutMs: 60_000, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } })
    client.on('error', () => {})
    t.teardown(() => client.close().catch(() => {}))
    const producer = client.producer({ maxInFlight: 200 })
    const confirmed: Confirmed[] = []
    const failures: string[] = []
    const attempted: string[] = []
    let outstanding = 0
    let seq = 0
    let stop = false
    const publishing = (async () => {
      while (!stop) {
        for (let i = 0; i < 2 && outstanding < 200; i++) {
          const s = seq++
          const id = `p0-${s}`
          const key = `k${s % KEYS}`
          attempted.push(id)
          outstanding++
          producer
            .publish(TOPIC, { id }, { key, headers: { [ID_HEADER]: id } })
            .then(
              (r) => void confirmed.push({ id, producer: 'p0', seq: s, key, partition: r.partition, offset: r.offset }),
              (err: unknown) => void failures.push(`${id}: ${String(err)}`),
            )
            .finally(() => outstanding--)
        }
        await sleep(10)
      }
    })()

    await sleep(1000)
    await cluster.brokers[follower - 1]!.kill()
    const killedAt = Date.now()
    t.ok(await until(async () => (await isrSize()) < 3, 25_000), 'the leader shrinks the dead follower out of the in-sync set, below minInSync')
    t.comment(`in-sync set shrank ${Date.now() - killedAt} ms after the kill; ${confirmed.length} confirmed, ${outstanding} outstanding`)
    // Refused meanwhile (NOT_ENOUGH_REPLICAS), held by the client.
    await sleep(2000)
    const resentBefore = producer.stats.resentBatches
    await cluster.brokers[follower - 1]!.start()
    t.ok(await until(async () => (await isrSize()) === 3, 30_000), 'the restarted follower caught up and is back in sync')
    const backAt = Date.now()
    await until(() => confirmed.length > 0 && outstanding < 10, 20_000)
    t.comment(`back in sync ${backAt - killedAt} ms after the kill; ${resentBefore} batches sent again before the restart`)
    await sleep(1000)
    stop = true
    await publishing
    t.ok(await until(() => outstanding === 0, 60_000), 'every publish settled')
    t.comment(`${attempted.length} published, ${confirmed.length} confirmed, ${failures.length} failed, ${producer.stats.resentBatches} batches sent again`)
    t.same(failures.slice(0, 5), [], 'no publish failed or timed out')
    t.equal(confirmed.length, attempted.length, 'every publish confirmed')
    t.ok(producer.stats.resentBatches > 0, 'refused batches were sent again')

    const back = await readBack({ url: cluster.seeds[leader - 1]!, topic: TOPIC, timeoutMs: 20_000, open: connectDirect })
    t.ok(back.complete, `every stored offset read back (missing: ${JSON.stringify(back.missing.slice(0, 5))})`)
    const report = check({ confirmed, stored: back.records, attempted })
    t.comment(report.summary())
    t.equal(report.lost.count, 0, 'no confirmed record lost')
    t.equal(report.duplicated.count, 0, 'no record stored twice')
    t.equal(report.reordered.count, 0, "every key's records stored in publish order")
    t.equal(report.offsetMismatch.count, 0, 'every confirm named the offset the record is stored at')
    t.equal(report.unconfirmedSeen.count, 0, 'nothing stored that was never published')
  })
}
