/**
 * The lease keeper against a real 3-member etcd: it keeps a lease alive past
 * its TTL; when every member is paused (SIGSTOP) for longer than the TTL it
 * reports the lease lost no later than the TTL after the last keepalive etcd
 * answered (counted from when that keepalive was sent); a lease revoked behind
 * its back is reported lost; after a loss it takes a new lease; and a stalled
 * member under its keepalive stream does not cost the lease.
 */
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { EtcdCluster, etcdMissing, etcdctlMissing, sleep, timeout, until } from './etcd-harness.js'
import { LeaseKeeper, type LeaseLost } from '../../broker/cluster/etcd/lease-keeper.js'

const skip = etcdMissing()

// Timers fire late by however long the event loop was busy; this allows for
// that on a loaded 2-core machine. The bound checked is a correctness bound
// (no belief in the lease past its deadline), not a speed target.
const TIMER_SLACK_MS = 500

t.test('three members', { skip }, async (t) => {
  const cluster = await EtcdCluster.start(3)
  t.teardown(() => cluster.stop())
  const etcd = cluster.client()

  t.test('kept alive past its TTL, then lost while etcd is paused, then granted anew', async (t) => {
    const keeper = new LeaseKeeper(etcd, { ttlSeconds: 3 })
    t.teardown(() => keeper.stop())
    const first = await keeper.grant()
    t.ok(keeper.holds(), 'holds the lease once granted')
    t.equal(Math.round(keeper.deadline - keeper.lastRenewSentAt), 3000, 'deadline = send time + TTL')
    await etcd.put('/l/broker', 'alive', { lease: first })

    await sleep(4500) // longer than the TTL: only keepalives keep the key
    t.equal((await etcd.get('/l/broker')).kvs[0]?.lease, first, 'the key outlived the TTL on keepalives')
    t.ok(keeper.holds(), 'still holds it')
    t.ok(performance.now() - keeper.lastRenewSentAt < 1500, 'renewed within the last interval')

    const lost: LeaseLost[] = []
    const holdsAfterDeadline: boolean[] = []
    keeper.on('lost', (info) => lost.push(info))
    const pausedAt = performance.now()
    for (let i = 0; i < 3; i++) cluster.pause(i)
    try {
      // Sample holds() while paused: false from the deadline on, every time.
      const stopAt = performance.now() + 4500
      while (performance.now() < stopAt) {
        const now = performance.now()
        if (now >= keeper.lastRenewSentAt + 3000 || keeper.id === undefined) holdsAfterDeadline.push(keeper.holds())
        await sleep(20)
      }
    } finally {
      for (let i = 0; i < 3; i++) cluster.resume(i)
    }
    t.equal(lost.length, 1, 'lost fired once')
    const info = lost[0]!
    t.equal(info.id, first)
    t.equal(info.reason, 'deadline')
    t.ok(info.lastRenewSentAt < pausedAt, 'the last answered keepalive was sent before the pause')
    t.equal(Math.round(info.deadline - info.lastRenewSentAt), 3000, 'its deadline was the send time + TTL')
    t.ok(info.at >= info.deadline, 'not reported before the deadline')
    t.ok(info.at - info.lastRenewSentAt <= 3000 + TIMER_SLACK_MS, `reported ${Math.round(info.at - info.lastRenewSentAt)} ms after the last answered send (TTL 3000 + ${TIMER_SLACK_MS} slack)`)
    t.ok(holdsAfterDeadline.length > 0 && holdsAfterDeadline.every((h) => !h), 'holds() was false at every sample from the deadline on')
    t.equal(keeper.id, undefined, 'no lease held')

    await cluster.waitHealthy(15_000)
    t.ok(await until(async () => (await etcd.get('/l/broker')).kvs.length === 0, 10_000), 'etcd dropped the key of the lost lease')
    const second = await keeper.grant()
    t.not(second, first, 'a new lease, with a new id')
    await etcd.put('/l/broker', 'back', { lease: second })
    await sleep(1500)
    t.ok(keeper.holds(), 'the new lease is kept alive')
    await keeper.stop()
    t.same((await etcd.get('/l/broker')).kvs, [], 'stop() revoked it and its key went')
  })

  t.test('a stalled member under the keepalive stream does not cost the lease', { skip: etcdctlMissing() }, async (t) => {
    const leader = await cluster.leaderIndex()
    const stalled = [0, 1, 2].find((i) => i !== leader)!
    const others = cluster.members.filter((_, i) => i !== stalled).map((m) => m.clientUrl)
    const keeper = new LeaseKeeper(cluster.client([cluster.members[stalled]!.clientUrl, ...others]), { ttlSeconds: 3 })
    t.teardown(() => keeper.stop())
    const lost: LeaseLost[] = []
    keeper.on('lost', (info) => lost.push(info))
    const id = await keeper.grant()
    await etcd.put('/l/stalled', 'x', { lease: id })
    await sleep(1500) // the keepalive stream is open on the member about to stall
    cluster.pause(stalled)
    try {
      await sleep(4500)
      t.same(lost, [], 'never lost')
      t.ok(keeper.holds(), 'still held after more than a TTL')
      t.equal((await cluster.client(others).get('/l/stalled')).kvs[0]?.lease, id, 'and its key is still there')
    } finally {
      cluster.resume(stalled)
    }
  })

  t.test('a lease revoked behind its back is reported lost', async (t) => {
    const keeper = new LeaseKeeper(etcd, { ttlSeconds: 3 })
    t.teardown(() => keeper.stop())
    const id = await keeper.grant()
    const lost = new Promise<LeaseLost>((r) => keeper.once('lost', r))
    await etcd.leaseRevoke(id)
    const info = await Promise.race([lost, timeout(5000)])
    t.match(info, { id, reason: 'expired' }, 'etcd answered the next keepalive with TTL 0')
    t.notOk(keeper.holds())
  })
})
