/**
 * A short seeded run of the cluster fault suite (fault-suite.ts): about 45 s
 * of faults drawn from every kind (leaders killed, paused past their lease,
 * cut from etcd and from their peers, every broker killed at once, the etcd
 * leader paused, a broker restarted on a wiped disk once partitions have
 * more than one copy), then every replica read from disk. Nothing confirmed
 * may be lost, stored twice or reordered; replicas may not differ; every
 * confirmed record reaches the group.
 *
 * A second run, on four brokers, moves partitions between them (first a
 * move, then moves, kills and pauses of leaders drawn by the seed): the same
 * checks, and no copy may be left on a broker a partition moved off.
 *
 * SKIFF_FAULT_SEED=<seed> replays a run; SKIFF_FAULT_RUN_MS makes it longer
 * (bench/cluster-faults/run.mjs is the long run).
 */
import t from 'tap'
import { faultSeed } from './fault-seed.js'
import { clusterMissing } from './broker-cluster.js'
import { etcdctlMissing } from './etcd-harness.js'
import { expectClean } from './expect-clean.js'
import { runFaultSuite } from './fault-suite.js'


const missing = clusterMissing() || etcdctlMissing()
if (missing) t.skip(missing)
else {
  t.test('seeded faults against a three-broker cluster: nothing confirmed lost, duplicated or reordered, replicas identical', async (t) => {
    const { seed } = faultSeed(t)
    const runMs = Number(process.env.SKIFF_FAULT_RUN_MS) || 45_000
    const r = await runFaultSuite({ seed, runMs, intervalMs: 3000, log: (line) => t.comment(line) })
    t.comment(`\n${r.table()}`)
    const injected = r.faults.filter((f) => !f.skipped)
    t.ok(injected.length >= 4, `a handful of faults were injected (${injected.length})`)
    t.same(r.faults.filter((f) => f.error).map((f) => `${f.name}: ${f.error}`), [], 'every fault was injected and healed')
    t.ok(r.faults.every((f) => f.settledAt !== undefined), 'every broker registered again after each fault')
    t.ok(r.confirmed > 1000, `the workload got far past the faults (${r.confirmed} confirmed)`)
    expectClean(t, r.check, seed, r.drained)
    t.equal(r.replicas.divergent.count, 0, `no offset differs between replicas (seed ${seed})`)
  })

  t.test('partitions moved between four brokers under faults: nothing confirmed lost, no copy left off the replicas', async (t) => {
    const { seed } = faultSeed(t)
    const runMs = Number(process.env.SKIFF_FAULT_RUN_MS) || 30_000
    const r = await runFaultSuite({ seed, runMs, intervalMs: 2500, brokers: 4, faults: ['move-partition', 'kill-leader', 'pause-leader'], opening: 'move-partition', log: (line) => t.comment(line) })
    t.comment(`\n${r.table()}`)
    const moves = r.faults.filter((f) => f.name === 'move-partition' && !f.skipped)
    t.ok(moves.length >= 1, `partitions were moved (${moves.length})`)
    t.same(r.faults.filter((f) => f.error).map((f) => `${f.name}: ${f.error}`), [], 'every move ended, every other fault was healed')
    expectClean(t, r.check, seed, r.drained)
    t.equal(r.replicas.divergent.count, 0, `no offset differs between replicas (seed ${seed})`)
    t.same(r.replicas.strays, [], 'every copy moved off a broker was dropped there')
  })
}
