/**
 * The etcd client's contract, against a real etcd (Debian's etcd-server; the
 * tests skip, naming the package, when /usr/bin/etcd is absent): reads by key
 * and prefix, compare-and-swap on mod_revision (a stale one must fail: an
 * enum name that did not match upstream would silently compare something
 * else), both branches of a txn, deletes, leases, and failover past a dead
 * member.
 */
import t from 'tap'
import { EtcdCluster, etcdMissing } from './etcd-harness.js'
import { EtcdClient } from '../../broker/cluster/etcd/client.js'

const skip = etcdMissing()

t.test('one member', { skip }, async (t) => {
  const cluster = await EtcdCluster.start(1)
  t.teardown(() => cluster.stop())
  const etcd = cluster.client()

  t.test('put, get and a prefix range', async (t) => {
    const a = await etcd.put('/t/kv/a', '{"n":1}')
    const b = await etcd.put('/t/kv/b', 'two')
    await etcd.put('/t/kw', 'outside the prefix')
    t.ok(b.revision > a.revision, 'each put moves the revision on')

    const one = await etcd.get('/t/kv/a')
    t.equal(one.kvs.length, 1)
    t.match(one.kvs[0], { key: '/t/kv/a', value: '{"n":1}', createRevision: a.revision, modRevision: a.revision, version: 1, lease: '0' })
    t.ok(one.revision >= b.revision, 'the read is at or after the last write')

    const all = await etcd.getPrefix('/t/kv/')
    t.same(all.kvs.map((kv) => [kv.key, kv.value]), [['/t/kv/a', '{"n":1}'], ['/t/kv/b', 'two']])
    t.same((await etcd.get('/t/none')).kvs, [], 'an absent key reads as no kvs')

    const again = await etcd.put('/t/kv/a', '{"n":2}')
    const updated = (await etcd.get('/t/kv/a')).kvs[0]!
    t.match(updated, { value: '{"n":2}', createRevision: a.revision, modRevision: again.revision, version: 2 })

    const past = await etcd.getPrefix('/t/kv/', { revision: a.revision })
    t.same(past.kvs.map((kv) => [kv.key, kv.value]), [['/t/kv/a', '{"n":1}']], 'a read at a past revision sees that revision')
  })

  t.test('compare-and-swap on mod_revision: a stale revision fails, the current one succeeds', async (t) => {
    const first = await etcd.put('/t/cas', 'v1')
    const second = await etcd.put('/t/cas', 'v2')

    const stale = await etcd.txn({
      compare: [{ key: '/t/cas', target: 'modRevision', op: '==', value: first.revision }],
      success: [{ type: 'put', key: '/t/cas', value: 'from a stale reader' }],
    })
    t.equal(stale.succeeded, false, 'the CAS on the stale mod_revision fails')
    t.equal((await etcd.get('/t/cas')).kvs[0]!.value, 'v2', 'and wrote nothing')
    // version is 2 and mod_revision is not: a compare that silently became a
    // VERSION compare would have succeeded with value 2 only by accident, so
    // check that the revision (not the version) is what was compared.
    const byVersion = await etcd.txn({ compare: [{ key: '/t/cas', target: 'version', op: '==', value: 2 }] })
    t.equal(byVersion.succeeded, true, 'the version compare sees version 2')

    const current = await etcd.txn({
      compare: [{ key: '/t/cas', target: 'modRevision', op: '==', value: second.revision }],
      success: [{ type: 'put', key: '/t/cas', value: 'v3' }],
    })
    t.equal(current.succeeded, true, 'the CAS on the current mod_revision succeeds')
    t.match((await etcd.get('/t/cas')).kvs[0], { value: 'v3', modRevision: current.revision })

    const absent = { key: '/t/cas-new', target: 'createRevision', op: '==', value: 0 } as const
    const created = await etcd.txn({ compare: [absent], success: [{ type: 'put', key: '/t/cas-new', value: 'x' }] })
    const createdAgain = await etcd.txn({ compare: [absent], success: [{ type: 'put', key: '/t/cas-new', value: 'y' }] })
    t.same([created.succeeded, createdAgain.succeeded], [true, false], 'create-if-absent wins once')

    const byValue = await etcd.txn({ compare: [{ key: '/t/cas', target: 'value', op: '==', value: 'v3' }] })
    const byValueWrong = await etcd.txn({ compare: [{ key: '/t/cas', target: 'value', op: '==', value: 'v2' }] })
    const newer = await etcd.txn({ compare: [{ key: '/t/cas', target: 'modRevision', op: '>', value: second.revision }] })
    const older = await etcd.txn({ compare: [{ key: '/t/cas', target: 'modRevision', op: '<', value: second.revision }] })
    t.same([byValue.succeeded, byValueWrong.succeeded, newer.succeeded, older.succeeded], [true, false, true, false], 'value, > and < compares')
  })

  t.test('the failure branch runs and returns its responses', async (t) => {
    const put = await etcd.put('/t/branch/k', 'current')
    await etcd.put('/t/branch/l', 'other')
    const r = await etcd.txn({
      compare: [{ key: '/t/branch/k', target: 'modRevision', op: '==', value: put.revision - 1 }],
      success: [{ type: 'delete', key: '/t/branch/k' }],
      failure: [{ type: 'range', key: '/t/branch/', prefix: true }, { type: 'put', key: '/t/branch/seen', value: 'lost' }],
    })
    t.equal(r.succeeded, false)
    t.equal(r.responses.length, 2)
    const [range, written] = r.responses
    t.equal(range?.type, 'range')
    if (range?.type === 'range') t.same(range.kvs.map((kv) => [kv.key, kv.value]), [['/t/branch/k', 'current'], ['/t/branch/l', 'other']])
    t.match(written, { type: 'put', revision: r.revision })
    t.equal((await etcd.get('/t/branch/seen')).kvs[0]?.value, 'lost', 'the failure branch wrote')
    t.equal((await etcd.get('/t/branch/k')).kvs.length, 1, 'the success branch did not run')
  })

  t.test('delete and deletePrefix', async (t) => {
    await etcd.put('/t/del/a', '1')
    await etcd.put('/t/del/b', '2')
    await etcd.put('/t/del/c', '3')
    t.match(await etcd.delete('/t/del/a'), { deleted: 1 })
    t.match(await etcd.delete('/t/del/a'), { deleted: 0 }, 'deleting an absent key deletes nothing')
    t.match(await etcd.deletePrefix('/t/del/'), { deleted: 2 })
    t.same((await etcd.getPrefix('/t/del/')).kvs, [])
  })

  t.test("a lease's key vanishes when the lease is revoked", async (t) => {
    const lease = await etcd.leaseGrant(30)
    t.equal(lease.ttl, 30)
    t.match(lease.id, /^[1-9]\d*$/, 'the lease id is a decimal string')
    await etcd.put('/t/lease/k', 'bound', { lease: lease.id })
    t.equal((await etcd.get('/t/lease/k')).kvs[0]?.lease, lease.id, 'the key carries the lease id intact')
    const byLease = await etcd.txn({ compare: [{ key: '/t/lease/k', target: 'lease', op: '==', value: lease.id }] })
    t.equal(byLease.succeeded, true, 'a compare on the lease id')
    await etcd.leaseRevoke(lease.id)
    t.same((await etcd.get('/t/lease/k')).kvs, [], 'the key went with its lease')
    await etcd.leaseRevoke(lease.id) // already gone: not an error
    await t.rejects(etcd.put('/t/lease/k2', 'x', { lease: lease.id }), { code: 5 }, 'a put on a revoked lease is refused')
  })

  t.test('bad input is refused with a clear error', async (t) => {
    await t.rejects(etcd.leaseGrant(0), /TTL must be/)
    await t.rejects(etcd.getPrefix(''), /empty prefix/)
    t.throws(() => new EtcdClient({ endpoints: 'https://127.0.0.1:1' }), /expected http:\/\/host:port/)
    t.throws(() => new EtcdClient({ endpoints: '' }), /no endpoints/)
  })
})

t.test('unary calls fail over past a dead member', { skip }, async (t) => {
  const cluster = await EtcdCluster.start(3)
  t.teardown(() => cluster.stop())
  await cluster.kill(0)
  await cluster.waitHealthy(15_000) // the two left have a leader (member 0 may have been it)
  // The dead member first: reads and writes go on to the next one.
  const etcd = cluster.client([cluster.members[0]!.clientUrl, cluster.members[1]!.clientUrl, cluster.members[2]!.clientUrl])
  const put = await etcd.put('/t/failover', 'written past a dead member')
  t.equal((await etcd.get('/t/failover')).kvs[0]?.modRevision, put.revision)
  t.equal(etcd.endpoint().url, cluster.members[1]!.clientUrl, 'the client stays on the member that answered')

  const onlyDead = cluster.client(cluster.members[0]!.clientUrl, { callTimeoutMs: 500 })
  await t.rejects(onlyDead.get('/t/failover'), { name: 'EtcdError', code: 14 }, 'with no member left, UNAVAILABLE')
  await t.rejects(onlyDead.put('/t/failover', 'x'), { name: 'EtcdError', code: 14, ambiguous: false }, 'a write that was never sent is not ambiguous')

  // A stalled member accepts the request and never answers: the outcome of a write is unknown.
  const stalled = cluster.client(cluster.members[1]!.clientUrl, { callTimeoutMs: 500 })
  await stalled.get('/t/failover') // connected before the stall
  cluster.pause(1)
  try {
    // The write must reach a member that is already stopped, not one still finishing its last turn.
    await cluster.stopped(1)
    const err = await stalled.put('/t/failover', 'y').then(() => 'written', (e: unknown) => e)
    t.match(err, { name: 'EtcdError', code: 4, ambiguous: true }, `a write sent to a stalled member is ambiguous (got ${String(err)})`)
  } finally {
    cluster.resume(1)
  }
})
