/**
 * The faults the fault suite injects into a FaultCluster, each one a
 * complete episode: break something, wait, heal it. Which broker a fault hits
 * and how long it lasts are drawn from the suite's seeded random source; the
 * leader of "some partitions" is found through METADATA at that moment.
 *
 * - kill-leader: SIGKILL a broker that leads partitions, start it again.
 * - pause-leader: SIGSTOP a leader for longer than the 3 s lease TTL, SIGCONT.
 * - cut-leader-etcd: reset and refuse every connection from a leader to every
 *   etcd member (its etcd proxies) for a while.
 * - cut-leader-peers: cut a leader's advertised address (its proxy). Its
 *   followers fetch from that address, and so do the clients METADATA sends
 *   to it: this fault cuts its clients too, as a failed switch port would.
 * - kill-all: SIGKILL every broker at once, start them all again.
 * - pause-etcd-leader: SIGSTOP the etcd raft leader (etcdctl endpoint
 *   status), SIGCONT.
 * - wipe-restart: SIGKILL a broker, remove its data directory, start it
 *   again as a new, empty replica (waiting for its old registration to
 *   expire, which the broker requires of a new data directory). Only once
 *   every partition's in-sync set holds all its replicas (waiting up to 20 s
 *   for it), else it is not injected and says so: wiping a second copy
 *   before the first has caught up is the loss of two machines, more than
 *   minInSync 2 promises to survive.
 * - move-partition: move a fully in-sync partition to another set of brokers
 *   (TOPIC_ALTER moves: one of its replicas, the leader or not, swapped for
 *   a broker that holds no copy), and wait up to 30 s for the move to end.
 *   Only in a cluster with more brokers than copies.
 */
import { sleep, until } from '../reliability/harness.js'
import type { FaultCluster } from './fault-cluster.js'

export const FAULT_NAMES = ['kill-leader', 'pause-leader', 'cut-leader-etcd', 'cut-leader-peers', 'kill-all', 'pause-etcd-leader', 'wipe-restart', 'move-partition'] as const
export type FaultName = (typeof FAULT_NAMES)[number]

/** Faults that need a second copy of each partition to keep what was confirmed. */
export const NEEDS_REPLICAS: readonly FaultName[] = ['wipe-restart']

/** Faults that need a broker without a copy of each partition. */
export const NEEDS_SPARE_BROKER: readonly FaultName[] = ['move-partition']

/** How long a move may take to end before the fault counts as failed. */
const MOVE_WITHIN_MS = 30_000

/** The lease TTL the brokers run with (docs/cluster.md): a pause must outlast it. */
export const LEASE_TTL_MS = 3000

export interface FaultRecord {
  name: FaultName
  /** What it hit: `broker 2`, `all brokers`, `etcd m1`. */
  target: string
  /** Partitions whose leader it hit (every partition for whole-cluster faults): failover is measured on these. */
  affected: number[]
  /** When the fault had taken effect (a killed process is gone, a signal sent, a link cut). */
  startedAt: number
  /** When the fault was healed (the process resumed or restarted, the link open). */
  healedAt: number
  /** When every broker was registered again after healing; undefined if that did not happen within 30 s. */
  settledAt: number | undefined
  /** Why it was not injected (nothing was broken). */
  skipped?: string
  error?: string
}

export interface FaultContext {
  cluster: FaultCluster
  topic: string
  partitions: number
  random: () => number
}

const between = (random: () => number, lo: number, hi: number) => lo + Math.floor(random() * (hi - lo))
const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!

/** A broker that leads at least one partition now, and those partitions; any broker when METADATA has no answer. */
async function someLeader(ctx: FaultContext): Promise<{ id: number; partitions: number[] }> {
  const leaders = await ctx.cluster.leaders(ctx.topic)
  const byBroker = new Map<number, number[]>()
  for (const [p, id] of leaders) byBroker.set(id, [...(byBroker.get(id) ?? []), p])
  const ids = [...byBroker.keys()].sort((a, b) => a - b)
  if (ids.length === 0) {
    const id = pick(ctx.random, ctx.cluster.brokers.map((b) => b.id))
    return { id, partitions: [] }
  }
  const id = pick(ctx.random, ids)
  return { id, partitions: byBroker.get(id)!.sort((a, b) => a - b) }
}

const all = (ctx: FaultContext) => Array.from({ length: ctx.partitions }, (_, p) => p)

/** Inject one fault, heal it, and wait for every broker to be registered again. */
export async function inject(name: FaultName, ctx: FaultContext): Promise<FaultRecord> {
  const { cluster, random } = ctx
  let target = ''
  let affected: number[] = []
  let startedAt = Date.now()
  let error: string | undefined
  let skipped: string | undefined
  try {
    switch (name) {
      case 'kill-leader': {
        const l = await someLeader(ctx)
        ;[target, affected] = [`broker ${l.id}`, l.partitions]
        await cluster.kill(l.id)
        startedAt = Date.now()
        await sleep(between(random, 500, 2000))
        await cluster.restart(l.id)
        break
      }
      case 'pause-leader': {
        const l = await someLeader(ctx)
        ;[target, affected] = [`broker ${l.id}`, l.partitions]
        cluster.signal(l.id, 'SIGSTOP')
        startedAt = Date.now()
        await sleep(between(random, LEASE_TTL_MS + 1000, LEASE_TTL_MS + 2500))
        cluster.signal(l.id, 'SIGCONT')
        break
      }
      case 'cut-leader-etcd': {
        const l = await someLeader(ctx)
        ;[target, affected] = [`broker ${l.id}`, l.partitions]
        for (const link of cluster.broker(l.id).etcdLinks) link.cut()
        startedAt = Date.now()
        await sleep(between(random, LEASE_TTL_MS + 1000, LEASE_TTL_MS + 3000))
        for (const link of cluster.broker(l.id).etcdLinks) link.heal()
        break
      }
      case 'cut-leader-peers': {
        const l = await someLeader(ctx)
        ;[target, affected] = [`broker ${l.id} (its peers and its clients)`, l.partitions]
        cluster.broker(l.id).advertised.cut()
        startedAt = Date.now()
        await sleep(between(random, 2000, 5000))
        cluster.broker(l.id).advertised.heal()
        break
      }
      case 'kill-all': {
        ;[target, affected] = ['all brokers', all(ctx)]
        await Promise.all(cluster.brokers.map((b) => cluster.kill(b.id)))
        startedAt = Date.now()
        await sleep(between(random, 500, 1500))
        await Promise.all(cluster.brokers.map((b) => cluster.restart(b.id)))
        break
      }
      case 'pause-etcd-leader': {
        const i = await cluster.etcd.leaderIndex()
        ;[target, affected] = [`etcd ${cluster.etcd.members[i]!.name}`, all(ctx)]
        cluster.etcd.pause(i)
        startedAt = Date.now()
        await sleep(between(random, 2000, 5000))
        cluster.etcd.resume(i)
        break
      }
      case 'wipe-restart': {
        const id = pick(random, cluster.brokers.map((b) => b.id))
        const full = await until(async () => {
          const placement = await cluster.placement(ctx.topic)
          return placement.size > 0 && [...placement.values()].every((p) => p.isr.length >= p.replicas.length)
        }, 20_000)
        if (!full) {
          target = `broker ${id}`
          skipped = 'not injected: an in-sync set stayed short of its replicas for 20 s, and a second lost copy is more than minInSync 2 promises to survive'
          break
        }
        const leaders = await cluster.leaders(ctx.topic)
        ;[target, affected] = [`broker ${id}`, [...leaders].filter(([, l]) => l === id).map(([p]) => p)]
        await cluster.kill(id)
        startedAt = Date.now()
        await cluster.restart(id, { wipe: true })
        break
      }
      case 'move-partition': {
        const ids = cluster.brokers.map((b) => b.id)
        const movable = [...(await cluster.placement(ctx.topic))].filter(([, p]) => p.replicas.length < ids.length && p.isr.length >= p.replicas.length).sort((a, b) => a[0] - b[0])
        if (movable.length === 0) {
          target = 'a partition'
          skipped = 'not injected: no partition was fully in sync with a broker outside its replicas'
          break
        }
        const [partition, p] = pick(random, movable)
        const incoming = pick(random, ids.filter((id) => !p.replicas.includes(id)))
        const outgoing = pick(random, p.replicas)
        const replicas = p.replicas.map((id) => (id === outgoing ? incoming : id))
        ;[target, affected] = [`p${partition}: broker ${outgoing}${outgoing === p.leader ? ' (leader)' : ''} to ${incoming}`, outgoing === p.leader ? [partition] : []]
        await cluster.movePartition(ctx.topic, partition, replicas)
        startedAt = Date.now()
        const moved = await until(async () => {
          const q = (await cluster.placement(ctx.topic)).get(partition)
          return q !== undefined && q.replicas.length === replicas.length && replicas.every((id) => q.replicas.includes(id)) && q.isr.length === replicas.length
        }, MOVE_WITHIN_MS)
        if (!moved) error = `p${partition} did not end on brokers ${replicas.join(',')}, all in sync, within ${MOVE_WITHIN_MS} ms`
        break
      }
    }
  } catch (err) {
    error = String(err)
    // Whatever the fault left behind is healed before the run goes on.
    cluster.healLinks()
    cluster.resumeAll()
    await Promise.all(cluster.brokers.filter((b) => !b.runner.running).map((b) => cluster.restart(b.id).catch(() => {})))
  }
  const healedAt = Date.now()
  const settled = await cluster.waitAllRegistered(30_000)
  return { name, target, affected, startedAt, healedAt, settledAt: settled ? Date.now() : undefined, ...(skipped ? { skipped } : {}), ...(error ? { error } : {}) }
}
