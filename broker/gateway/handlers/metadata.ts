/**
 * METADATA: where each partition is led, and where each broker is
 * (protocol/frames/metadata.ts). A single broker leads every partition
 * itself, at epoch 0, with itself as the only replica. Its address is the
 * one --advertise gives or else the one this connection reached: a client
 * that got here can get here again, whatever interface the broker listens on.
 * In a cluster the answer comes from the broker's view of it instead.
 * Topics are those the user may describe (which publish or subscribe
 * permission on the topic grants, as for TOPIC_LIST).
 */
import { decodeMetadataRequest, encodeOk, type BrokerInfo, type ClusterMetadata, type TopicPlacement } from '../../../protocol/index.js'
import type { HandlerConnection } from '../handler-connection.js'
import type { TopicConfig } from '../../thread-messages.js'
import { mayAccess } from '../../auth/guard.js'
import { parseAdvertise } from '../../config.js'

export async function onMetadata(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeMetadataRequest(body)
  const { topics, identity, cluster } = conn.ctx
  if (cluster) {
    if (!cluster.joined) await cluster.whenJoined
    // A cluster's broker answers from its watch of etcd (cluster/cluster-view.ts).
    const names = req.topics ?? [...cluster.view.topics.keys()].sort()
    conn.send(encodeOk(req.corr, cluster.metadata(names.filter((t) => mayAccess(conn, 'describe', t)))))
    return
  }
  const wanted = req.topics === undefined ? topics.list() : req.topics.flatMap((name) => topics.get(name) ?? [])
  const result: ClusterMetadata = {
    clusterId: identity.clusterId,
    revision: 0,
    brokers: [{ id: identity.brokerId, ...addressOf(conn) }],
    topics: wanted.filter((t) => mayAccess(conn, 'describe', t.topic)).map((t) => placement(t, identity.brokerId)),
  }
  conn.send(encodeOk(req.corr, result))
}

function placement(t: TopicConfig, self: number): TopicPlacement {
  const partitions = []
  for (let partition = 0; partition < t.partitions; partition++) partitions.push({ partition, leader: self, leaderEpoch: 0, replicas: [self], isr: [self] })
  return { topic: t.topic, partitions }
}

function addressOf(conn: HandlerConnection): Omit<BrokerInfo, 'id'> {
  const advertised = parseAdvertise(conn.ctx.config.advertise)
  if (advertised) return advertised
  const local = conn.local
  const host = local.host ?? conn.ctx.config.host
  // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d: the client dialled a.b.c.d.
  return { host: host.startsWith('::ffff:') ? host.slice(7) : host, port: local.port ?? conn.ctx.config.port }
}
