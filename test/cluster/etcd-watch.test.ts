/**
 * The prefix watcher against a real 3-member etcd: every change seen exactly
 * once and in order while the member the watch is on is SIGKILLed and
 * restarted, or stalled (SIGSTOP), and a full resync when the resume point was compacted away while the
 * watcher's only member was down.
 */
import t from 'tap'
import { EtcdCluster, etcdMissing, etcdctlMissing, sleep, timeout, until } from './etcd-harness.js'
import { PrefixWatcher, type WatchEvent } from '../../broker/cluster/etcd/watcher.js'
import type { EtcdClient } from '../../broker/cluster/etcd/client.js'

const skip = etcdMissing()

/** Collects a watcher's events; the first is the initial resync. */
function collect(watcher: PrefixWatcher): WatchEvent[] {
  const seen: WatchEvent[] = []
  void (async () => {
    for await (const ev of watcher) seen.push(ev)
  })()
  return seen
}

/** A write that may have to be resent after an ambiguous failure (the member died mid-call), applied exactly once by its compare. */
async function once(etcd: EtcdClient, step: () => Promise<unknown>): Promise<void> {
  let last: unknown
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      await step()
      return
    } catch (err) {
      last = err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`a write failed 40 times in a row (last: ${(last as Error).message})`, { cause: last })
}

t.test('three members', { skip }, async (t) => {
  const cluster = await EtcdCluster.start(3)
  t.teardown(() => cluster.stop())
  const [a, b, c] = cluster.members.map((m) => m.clientUrl) as [string, string, string]

  t.test('a watch resumes without missing or repeating an event when its member is killed and restarted', async (t) => {
    const writer = cluster.client([b, c])
    await writer.put('/w/before', 'listed, not watched')
    const failures: unknown[] = []
    const watcher = new PrefixWatcher(cluster.client([a, b, c]), '/w/', { heartbeatMs: 1000, onError: (err) => failures.push(err) })
    t.teardown(() => watcher.close())
    const seen = collect(watcher)
    t.ok(await until(() => seen.length > 0 && watcher.endpoint, 5000), 'the initial list arrived and the watch is open')
    t.equal(watcher.endpoint, a, 'the watch is on member A')
    t.match(seen[0], { type: 'resync', kvs: [{ key: '/w/before', value: 'listed, not watched' }] })

    const expected: [string, string, string][] = []
    let restarting: Promise<void> | undefined
    for (let i = 0; i < 200; i++) {
      if (i === 60) await cluster.kill(0)
      if (i === 130) restarting = cluster.restart(0)
      const key = `/w/k${i}`
      // Create-if-absent: resent after an ambiguous error, it still writes once.
      await once(writer, () => writer.txn({ compare: [{ key, target: 'createRevision', op: '==', value: 0 }], success: [{ type: 'put', key, value: String(i) }] }))
      expected.push(['put', key, String(i)])
      if (i % 5 === 4) {
        await once(writer, () => writer.txn({ compare: [{ key, target: 'version', op: '>', value: 0 }], success: [{ type: 'delete', key }] }))
        expected.push(['delete', key, ''])
      }
      await new Promise((r) => setTimeout(r, 5))
    }
    await restarting
    const last = (await writer.get('/w/none')).revision
    t.ok(await until(() => watcher.revision >= last, 20_000), `the watcher reached revision ${last}`)
    const events = seen.slice(1)
    t.notOk(events.some((e) => e.type === 'resync'), 'no resync was needed')
    const got = events.map((e) => (e.type === 'resync' ? ['resync', '', ''] : [e.type, e.key, e.value]))
    t.same(got, expected, `all ${expected.length} changes, each once, in order`)
    const revisions = events.map((e) => (e.type === 'resync' ? 0 : e.modRevision))
    t.ok(revisions.every((r, i) => i === 0 || r > revisions[i - 1]!), 'revisions strictly increase')
    t.ok(failures.length >= 1, `the stream failed and was resumed (${failures.length} failures)`)
    t.not(watcher.endpoint, undefined, 'the watch is open again')
  })

  t.test('a watch on a stalled member moves to another and misses nothing', { skip: etcdctlMissing() }, async (t) => {
    const leader = await cluster.leaderIndex()
    const stalled = [0, 1, 2].find((i) => i !== leader)!
    const others = cluster.members.filter((_, i) => i !== stalled).map((m) => m.clientUrl)
    const writer = cluster.client(others)
    const watcher = new PrefixWatcher(cluster.client([cluster.members[stalled]!.clientUrl, ...others]), '/s/', { heartbeatMs: 500 })
    t.teardown(() => watcher.close())
    const seen = collect(watcher)
    t.ok(await until(() => seen.length > 0 && watcher.endpoint, 5000), 'watching')
    t.equal(watcher.endpoint, cluster.members[stalled]!.clientUrl, 'on the member about to stall')
    cluster.pause(stalled)
    try {
      for (let i = 0; i < 20; i++) await writer.put(`/s/k${i}`, String(i))
      const last = (await writer.get('/s/none')).revision
      t.ok(await until(() => watcher.revision >= last, 10_000), 'every change arrived while the member is stalled')
      t.not(watcher.endpoint, cluster.members[stalled]!.clientUrl, 'the watch moved to another member')
      t.same(seen.slice(1).map((e) => (e.type === 'resync' ? 'resync' : e.value)), Array.from({ length: 20 }, (_, i) => String(i)), 'each once, in order')
    } finally {
      cluster.resume(stalled)
    }
  })

  t.test('a member without a leader refuses the watch (hasleader), which resumes once it has one', async (t) => {
    const errors: string[] = []
    const watcher = new PrefixWatcher(cluster.client([a]), '/h/', { heartbeatMs: 1000, onError: (err) => errors.push(String((err as Error).message)) })
    t.teardown(() => watcher.close())
    const seen = collect(watcher)
    t.ok(await until(() => seen.length > 0 && watcher.endpoint, 5000), 'watching')
    cluster.pause(1)
    cluster.pause(2)
    try {
      t.ok(await until(() => errors.some((m) => /no leader/.test(m)), 15_000), 'member A, alone, answered "no leader"')
    } finally {
      cluster.resume(1)
      cluster.resume(2)
    }
    await cluster.waitHealthy(15_000)
    const { revision } = await cluster.client([b, c]).put('/h/after', 'x')
    t.ok(await until(() => watcher.revision >= revision, 10_000), 'the watch is back on A once it has a leader')
    t.match(seen.at(-1), { type: 'put', key: '/h/after', value: 'x' })
  })

  t.test('a consumer that falls behind pauses the stream; nothing is lost and the pause is not taken for a dead member', async (t) => {
    const writer = cluster.client([b, c])
    const failures: unknown[] = []
    const watcher = new PrefixWatcher(cluster.client([b, c]), '/p/', { heartbeatMs: 200, highWater: 5, onError: (err) => failures.push(err) })
    const it = watcher[Symbol.asyncIterator]()
    t.match((await it.next()).value, { type: 'resync', kvs: [] })
    for (let i = 0; i < 30; i++) await writer.put(`/p/k${i}`, String(i))
    await sleep(1500) // several heartbeats while nobody reads
    const values: string[] = []
    for (let i = 0; i < 30; i++) {
      const { value } = await Promise.race([it.next(), timeout(5000)]) ?? {}
      if (!value || value.type === 'resync') break
      values.push(value.value)
    }
    await it.return?.()
    t.same(values, Array.from({ length: 30 }, (_, i) => String(i)), 'all 30 changes, in order')
    t.same(failures, [], 'the stream was never abandoned')
  })

  t.test('a resume point compacted away gives a full resync, then events again', async (t) => {
    const writer = cluster.client([b, c])
    await writer.put('/c/keep', '1')
    await writer.put('/c/gone', '1')
    const watcher = new PrefixWatcher(cluster.client([a]), '/c/', { heartbeatMs: 300 })
    t.teardown(() => watcher.close())
    const seen = collect(watcher)
    t.ok(await until(() => seen.length > 0 && watcher.endpoint, 5000), 'watching')
    await writer.put('/c/keep', '2')
    t.ok(await until(() => seen.length >= 2, 5000), 'a live event first')

    // A is down; meanwhile the keys change and history is compacted past the
    // watcher's revision. A restarted has applied all of it before it serves
    // clients again, so the watcher's resume point is gone there.
    await cluster.kill(0)
    await cluster.waitHealthy(15_000) // B and C have a leader (A may have been it)
    await writer.put('/c/keep', '3')
    await writer.delete('/c/gone')
    const { revision } = await writer.put('/c/new', 'n')
    await writer.compact(revision, { physical: true })
    await cluster.restart(0)
    const resync = await until(() => seen.slice(2).find((e) => e.type === 'resync'), 15_000)
    t.ok(resync, 'a resync after the compaction')
    if (resync?.type === 'resync') t.same(resync.kvs.map((kv) => [kv.key, kv.value]), [['/c/keep', '3'], ['/c/new', 'n']], 'the snapshot is the current state')
    const afterResync = seen.slice(seen.indexOf(resync!) + 1)
    t.ok(afterResync.every((e) => e.type !== 'resync' && e.modRevision > (resync as { revision: number }).revision), 'nothing from before the snapshot follows it')
    const after = seen.length
    await writer.put('/c/later', 'x')
    t.ok(await until(() => seen.length > after, 5000), 'events flow again')
    t.match(seen.at(-1), { type: 'put', key: '/c/later', value: 'x' })
  })
})
