/** Asking every partition of a topic the same question, each of its owning worker. */
import { ownerOf, partitionNumbers } from '../routing.js'
import type { ResultFor, TopicConfig } from '../thread-messages.js'
import type { WorkerRequest } from './pool.js'
import type { HandlerContext } from './handler-connection.js'

export type PoolRequest = WorkerRequest

/**
 * The owners' answers in partition order, each what the request op answers
 * (ResultFor). In a cluster, of the partitions this broker leads: the others
 * live on other brokers (a local worker asked about one would make an empty
 * partition directory for it).
 */
export function perPartition<R extends PoolRequest>(ctx: Pick<HandlerContext, 'pool' | 'cluster'>, t: TopicConfig, req: (partition: number) => R): Promise<ResultFor<R>[]> {
  const waits: Promise<ResultFor<R>>[] = []
  const here = ctx.cluster?.ledHere(t.topic, t.partitions)
  for (const p of here ?? partitionNumbers(t.partitions)) waits.push(ctx.pool.request(ownerOf(t.topic, p, ctx.pool.size), req(p)))
  return Promise.all(waits)
}
