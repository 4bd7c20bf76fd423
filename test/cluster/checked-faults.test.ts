/**
 * Three brokers on three etcd members under a keyed, idempotent, confirmed
 * workload through the routing client (every broker a seed), with a consumer
 * group acking; meanwhile one broker is SIGKILLed and restarted, another is
 * paused (SIGSTOP) for longer than its lease TTL and resumed, and two of the
 * three etcd members are killed and restarted (order and moments drawn from
 * the seed). Then every partition is read back from the broker that leads
 * it (read again while leadership settles), and the checker must find no
 * confirmed record lost, none stored twice, none out of order, every ack at
 * its stored offset, nothing stored or delivered that was never published,
 * and every confirmed record delivered.
 *
 * Seeded: SKIFF_FAULT_SEED=<seed> replays the plan and the keys.
 */
import t from 'tap'
import { faultSeed } from './fault-seed.js'
import { sleep } from '../reliability/harness.js'
import { check } from './checker.js'
import { expectClean } from './expect-clean.js'
import { readBackLeaders } from './read-back.js'
import { startWorkload } from './workload.js'
import { clusterMissing, connectDirect, startCluster } from './broker-cluster.js'

const TOPIC = 'checked'
const RUN_MS = 15_000
/** Longer than the 3 s lease TTL: the paused broker drops out of the cluster. */
const PAUSE_MS = 4500


const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a broker killed, a broker paused past its lease, etcd without quorum: nothing confirmed lost, duplicated or reordered', async (t) => {
    const { seed, random } = faultSeed(t)
    const cluster = await startCluster(t, { brokers: 3, args: ['--group-commit-ms', '20', '--no-udp'] })
    const admin = await connectDirect(cluster.seeds[0]!, { name: 'checked' })
    await admin.admin.createTopic(TOPIC, { partitions: 6 })
    await admin.close()

    const w = await startWorkload({
      url: cluster.seeds,
      topic: TOPIC,
      producers: 3,
      consumers: 2,
      group: 'billing',
      keys: 12,
      rate: 100,
      durationMs: RUN_MS,
      seed,
      connect: { requestTimeoutMs: 25_000, drainTimeoutMs: 5000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } },
    })
    t.teardown(() => w.close())

    const [b1, b2, b3] = cluster.brokers as [(typeof cluster.brokers)[0], (typeof cluster.brokers)[0], (typeof cluster.brokers)[0]]
    const started = Date.now()
    const at = () => `${((Date.now() - started) / 1000).toFixed(1)} s, ${w.confirmed.length} confirmed`
    const faults: Record<string, () => Promise<void>> = {
      'kill broker 2': async () => {
        await b2.kill()
        await sleep(500 + Math.floor(random() * 1000))
        await b2.start()
      },
      'pause broker 3': async () => {
        process.kill(b3.pid, 'SIGSTOP')
        await sleep(PAUSE_MS)
        process.kill(b3.pid, 'SIGCONT')
      },
      'kill two etcd members': async () => {
        await cluster.etcd.kill(1)
        await cluster.etcd.kill(2)
        await sleep(1000 + Math.floor(random() * 1000))
        await cluster.etcd.restart(1)
        await cluster.etcd.restart(2)
      },
    }
    const plan = Object.keys(faults)
    for (let i = plan.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[plan[i], plan[j]] = [plan[j]!, plan[i]!]
    }
    const slotMs = (RUN_MS - 2000) / plan.length
    for (const [i, name] of plan.entries()) {
      await sleep(Math.max(0, started + 1000 + i * slotMs + random() * 1000 - Date.now()))
      t.comment(`${name} at ${at()}`)
      await faults[name]!()
      t.comment(`${name} over at ${at()}`)
    }

    await w.produced
    t.comment(`produced: ${w.attempted.length} attempted, ${w.confirmed.length} confirmed, ${w.failures.length} failed`)
    if (w.failures.length > 0) t.comment(`first failures: ${JSON.stringify(w.failures.slice(0, 3))}`)
    const drained = await w.deliveredAll(30_000)
    await w.close()

    // Each partition read back whole from the broker leading it (read-back.ts: leadership may still be settling after etcd's outage).
    const back = await readBackLeaders({ urls: cluster.seeds, topic: TOPIC, partitions: 6, open: connectDirect })
    t.strictSame(back.unread, [], `all six partitions were read whole from their leaders (missing: ${JSON.stringify(back.missing.slice(0, 5))})`)
    t.comment(`read back in ${back.rounds} round(s) over the brokers`)
    const stored = back.records
    const report = check({ confirmed: w.confirmed, stored, attempted: w.attempted, delivered: w.delivered })
    t.comment(report.summary())
    t.ok(w.confirmed.length > 1000, 'the workload got far past the faults')
    expectClean(t, report, seed, drained)
  })
}
