/**
 * `skiff cluster status`: the brokers of the cluster and their addresses,
 * how many partitions each leads, and every partition that cannot be served
 * now, with the reason. Asked of any broker (METADATA); a single broker shows
 * itself leading everything.
 */
import type { ClusterMetadata } from '../../clients/index.js'
import { clientCommand, commandGroup, printJson, table, type CliIO, type ClientArgs } from './client-common.js'

/** A partition that cannot be served now, and why. */
export interface Unavailable {
  topic: string
  partition: number
  leader: number
  reason: string
}

export function clusterReport(md: ClusterMetadata): { leading: Map<number, number>; unavailable: Unavailable[] } {
  const live = new Set(md.brokers.map((b) => b.id))
  const leading = new Map<number, number>(md.brokers.map((b) => [b.id, 0]))
  const unavailable: Unavailable[] = []
  for (const t of md.topics) {
    for (const p of t.partitions) {
      if (live.has(p.leader)) leading.set(p.leader, leading.get(p.leader)! + 1)
      else unavailable.push({ topic: t.topic, partition: p.partition, leader: p.leader, reason: `its leader, broker ${p.leader}, is not live` })
    }
  }
  return { leading, unavailable }
}

export function clusterCommand(io: CliIO) {
  const status = clientCommand<ClientArgs>(io, 'cluster status', {
    command: 'status',
    describe: 'brokers, their addresses and the partitions each leads, and every partition that cannot be served now, with the reason',
    run: async (client, argv) => {
      const md = await client.admin.metadata()
      const { leading, unavailable } = clusterReport(md)
      if (argv.json) return printJson(io, { clusterId: md.clusterId, revision: md.revision, brokers: md.brokers.map((b) => ({ ...b, live: true, leads: leading.get(b.id) })), unavailable })
      io.stdout.write(`cluster ${md.clusterId}: ${md.brokers.length} live broker${md.brokers.length === 1 ? '' : 's'}\n`)
      io.stdout.write(table([['BROKER', 'ADDRESS', 'LEADS'], ...md.brokers.map((b) => [String(b.id), `${b.host}:${b.port}`, String(leading.get(b.id))])]))
      if (unavailable.length === 0) return void io.stdout.write('every partition has a live leader\n')
      io.stdout.write(`${unavailable.length} partition${unavailable.length === 1 ? '' : 's'} unavailable:\n`)
      io.stdout.write(table([['TOPIC', 'PARTITION', 'REASON'], ...unavailable.map((u) => [u.topic, String(u.partition), u.reason])]))
    },
  })
  return commandGroup(io, 'cluster', "the cluster's brokers and partitions", [status], 'name a cluster command: status')
}
