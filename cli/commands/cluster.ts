/**
 * `skiff cluster status`: the brokers of the cluster and their addresses,
 * how many partitions each leads, every partition that cannot be served
 * now or is under-replicated, with the reason, and every partition being
 * moved to other brokers (`skiff topics alter --move`). Asked of any broker
 * (METADATA); a single broker shows itself leading everything.
 *
 * The reasons are the broker's (METADATA carries them, worked out from the
 * in-sync set and each member's incarnation, which only the broker sees). A
 * broker that sends none (an earlier build) gets the reasons its ids allow.
 */
import type { ClusterMetadata, PartitionPlacement } from '../../clients/index.js'
import { clientCommand, commandGroup, printJson, table, type CliIO, type ClientArgs } from './client-common.js'

/** A partition that cannot be served now, and why. */
export interface Unavailable {
  topic: string
  partition: number
  leader: number
  reason: string
}

/** A partition with a live leader and fewer live, in-sync copies than replicas, and why. */
export interface UnderReplicated {
  topic: string
  partition: number
  leader: number
  replicas: number[]
  isr: number[]
  reason: string
}

/** A partition moving to other brokers: `replicas` holds the old and the new ones until it is done. */
export interface Moving {
  topic: string
  partition: number
  leader: number
  replicas: number[]
  isr: number[]
  movingTo: number[]
}

/** The reasons a partition's ids allow, for a broker that does not send its own. */
function reasonsFromIds(p: PartitionPlacement, live: Set<number>): { unavailable?: string; underReplicated?: string } {
  if (!live.has(p.leader)) return { unavailable: `leader ${p.leader} not live` }
  const why = p.replicas.flatMap((id) => (!live.has(id) ? [`broker ${id} not live`] : p.isr.includes(id) ? [] : [`broker ${id} out of sync`]))
  return why.length ? { underReplicated: why.join('; ') } : {}
}

export function clusterReport(md: ClusterMetadata): { leading: Map<number, number>; unavailable: Unavailable[]; underReplicated: UnderReplicated[]; moving: Moving[] } {
  const live = new Set(md.brokers.map((b) => b.id))
  const leading = new Map<number, number>(md.brokers.map((b) => [b.id, 0]))
  const unavailable: Unavailable[] = []
  const underReplicated: UnderReplicated[] = []
  const moving: Moving[] = []
  for (const t of md.topics) {
    for (const p of t.partitions) {
      if (live.has(p.leader)) leading.set(p.leader, leading.get(p.leader)! + 1)
      const health = p.unavailable !== undefined || p.underReplicated !== undefined ? p : reasonsFromIds(p, live)
      if (health.unavailable !== undefined) unavailable.push({ topic: t.topic, partition: p.partition, leader: p.leader, reason: health.unavailable })
      else if (health.underReplicated !== undefined) {
        underReplicated.push({ topic: t.topic, partition: p.partition, leader: p.leader, replicas: p.replicas, isr: p.isr, reason: health.underReplicated })
      }
      if (p.movingTo !== undefined) moving.push({ topic: t.topic, partition: p.partition, leader: p.leader, replicas: p.replicas, isr: p.isr, movingTo: p.movingTo })
    }
  }
  return { leading, unavailable, underReplicated, moving }
}

const partitions = (n: number) => `${n} partition${n === 1 ? '' : 's'}`

export function clusterCommand(io: CliIO) {
  const status = clientCommand<ClientArgs>(io, 'cluster status', {
    command: 'status',
    describe: 'brokers, their addresses and the partitions each leads, every partition that cannot be served now or is under-replicated, with the reason, and every partition being moved',
    run: async (client, argv) => {
      const md = await client.admin.metadata()
      const { leading, unavailable, underReplicated, moving } = clusterReport(md)
      if (argv.json) {
        return printJson(io, { clusterId: md.clusterId, revision: md.revision, brokers: md.brokers.map((b) => ({ ...b, live: true, leads: leading.get(b.id) })), unavailable, underReplicated, moving })
      }
      io.stdout.write(`cluster ${md.clusterId}: ${md.brokers.length} live broker${md.brokers.length === 1 ? '' : 's'}\n`)
      io.stdout.write(table([['BROKER', 'ADDRESS', 'LEADS'], ...md.brokers.map((b) => [String(b.id), `${b.host}:${b.port}`, String(leading.get(b.id))])]))
      if (unavailable.length === 0) io.stdout.write('every partition has a live leader\n')
      else {
        io.stdout.write(`${partitions(unavailable.length)} unavailable:\n`)
        io.stdout.write(table([['TOPIC', 'PARTITION', 'LEADER', 'REASON'], ...unavailable.map((u) => [u.topic, String(u.partition), String(u.leader), u.reason])]))
      }
      if (underReplicated.length === 0) io.stdout.write('every partition with a live leader is fully replicated\n')
      else {
        io.stdout.write(`${partitions(underReplicated.length)} under-replicated:\n`)
        io.stdout.write(
          table([
            ['TOPIC', 'PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'REASON'],
            ...underReplicated.map((u) => [u.topic, String(u.partition), String(u.leader), u.replicas.join(','), u.isr.join(','), u.reason]),
          ]),
        )
      }
      // Listed only while some partition moves: moves are occasional, so no line says there are none.
      if (moving.length === 0) return
      io.stdout.write(`${partitions(moving.length)} moving:\n`)
      io.stdout.write(
        table([
          ['TOPIC', 'PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'MOVING TO'],
          ...moving.map((m) => [m.topic, String(m.partition), String(m.leader), m.replicas.join(','), m.isr.join(','), m.movingTo.join(',')]),
        ]),
      )
    },
  })
  return commandGroup(io, 'cluster', "the cluster's brokers and partitions", [status], 'name a cluster command: status')
}
