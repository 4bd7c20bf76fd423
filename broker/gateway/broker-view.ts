/**
 * The gateway's side of observability/broker-view.ts: what the panel and the
 * metrics read of the broker, and the admin changes the panel makes, served
 * from the gateway's context by the same code the protocol's handlers run.
 */
import type { BrokerView } from '../observability/broker-view.js'
import { ownerOf, partitionNumbers } from '../routing.js'
import type { GatewayContext } from './context.js'
import { perPartition } from './fan-out.js'
import { deleteGroupOf, purgeTopicOf, resetGroupOf } from './handlers/manage.js'

export function brokerView(ctx: GatewayContext): BrokerView {
  return {
    config: ctx.config,
    logger: ctx.logger,
    auth: ctx.auth,
    get draining() {
      return ctx.draining
    },
    connections: ctx.connections,
    topics: ctx.topics,
    cluster: () => ctx.cluster?.status(),
    replication: () => ctx.cluster?.replication,
    workers: ctx.pool.size,
    writable: (t) => ctx.cluster?.ledHere(t.topic, t.partitions) ?? partitionNumbers(t.partitions),
    refusal: (topic, partition) => ctx.cluster?.refusal(topic, partition),
    holds: (topic, partition) => ctx.cluster?.holdsCopy(topic, partition) ?? true,
    ask: (q) => ctx.pool.request(ownerOf(q.topic, q.partition, ctx.pool.size), q),
    perPartition: (t, question) => perPartition(ctx, t, question),
    purgeTopic: (t) => purgeTopicOf(ctx, t),
    deleteGroup: (t, group, force) => deleteGroupOf(ctx, t, group, force),
    resetGroup: (t, req) => resetGroupOf(ctx, t, req),
  }
}
