/**
 * Who may lead a replicated partition and who may be elected
 * (broker/cluster/replica-roles.ts), from the keys as etcd holds them: a
 * leader counts only live in the incarnation its in-sync entry names; an
 * election takes the live in-sync members in that incarnation, or after a
 * whole-cluster restart (nobody in its incarnation) waits for the whole
 * last in-sync set and then takes those whose data directory is the one
 * they had (a wiped disk never leads). Nobody outside the set is electable.
 */
import t from 'tap'
import { electable, isCurrent, leaderIsLive } from '../../broker/cluster/replica-roles.js'
import type { BrokerRecord, PartitionRecord } from '../../broker/cluster/records.js'

const broker = (incarnation: string, dirId = `dir-${incarnation[0]}`): BrokerRecord => ({ host: '127.0.0.1', port: 7600, incarnation, dirId })
const partition = (leader: number, isr: [number, string, string?][], replicas = [1, 2, 3]): PartitionRecord => ({
  leader,
  leaderEpoch: 4,
  replicas,
  isr: isr.map(([id, incarnation, dirId]) => (dirId === undefined ? { id, incarnation } : { id, incarnation, dirId })),
})

t.test('a leader counts while live in the incarnation its in-sync entry names', async (t) => {
  const live = new Map([
    [1, broker('a1')],
    [2, broker('b1')],
  ])
  t.ok(leaderIsLive(partition(1, [[1, 'a1'], [2, 'b1']]), live), 'live, same incarnation')
  t.notOk(leaderIsLive(partition(3, [[3, 'c1'], [1, 'a1']]), live), 'its broker key is gone')
  t.notOk(leaderIsLive(partition(1, [[1, 'a0'], [2, 'b1']]), live), 'it restarted since (a new incarnation)')
  t.notOk(leaderIsLive(partition(2, [[1, 'a1']]), live), 'it is not in its own in-sync set')
  t.ok(isCurrent({ id: 2, incarnation: 'b1' }, live))
  t.notOk(isCurrent({ id: 2, incarnation: 'b0' }, live))
})

t.test('an election takes the in-sync members live in their incarnation, in the set\'s order', async (t) => {
  const live = new Map([
    [2, broker('b1')],
    [3, broker('c1')],
  ])
  const p = partition(1, [[1, 'a1'], [3, 'c1'], [2, 'b1']])
  t.same(electable(p, live), { mode: 'clean', members: [{ id: 3, incarnation: 'c1' }, { id: 2, incarnation: 'b1' }] })
  const restarted = new Map([...live, [2, broker('b2')]])
  t.same(electable(p, restarted).members.map((m) => m.id), [3], 'a member that restarted is not electable while a current one lives')
  const outside = new Map([[3, broker('c1')], [2, broker('b1')]])
  t.same(electable(partition(1, [[1, 'a1'], [3, 'c1']]), outside).members.map((m) => m.id), [3], 'a live replica outside the set never is (no unclean election)')
})

t.test('after every broker restarted, the last in-sync set elects once all of it is back, never a wiped disk', async (t) => {
  const p = partition(1, [[1, 'a1', 'dir-a'], [2, 'b1', 'dir-b'], [3, 'c1', 'dir-c']])
  const twoBack = new Map([
    [1, broker('a2', 'dir-a')],
    [2, broker('b2', 'dir-b')],
  ])
  t.same(electable(p, twoBack), { mode: 'recovered', members: [] }, 'waits while a member of the set is missing')
  const allBack = new Map([...twoBack, [3, broker('c2', 'dir-c')]])
  t.same(electable(p, allBack).members.map((m) => m.id), [1, 2, 3], 'then every member that kept its data, in the set\'s order')
  const wiped = new Map([...allBack, [1, broker('a2', 'dir-new')]])
  t.same(electable(p, wiped).members.map((m) => m.id), [2, 3], 'a member whose data directory changed is left out')
  const old = partition(1, [[1, 'a1'], [2, 'b1']])
  t.same(electable(old, new Map([[1, broker('a2')], [2, broker('b2')]])).members.map((m) => m.id), [1, 2], 'a key written before data directories were recorded trusts its members')
})
