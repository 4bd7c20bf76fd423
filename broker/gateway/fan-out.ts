/** Asking every partition of a topic the same question, each of its owning worker. */
import { ownerOf } from '../routing.js'
import type { ResultFor, TopicConfig } from '../thread-messages.js'
import type { WorkerRequest } from './pool.js'
import type { HandlerContext } from './handler-connection.js'

export type PoolRequest = WorkerRequest

/** The owners' answers in partition order, each what the request op answers (ResultFor). */
export function perPartition<R extends PoolRequest>(ctx: Pick<HandlerContext, 'pool'>, t: TopicConfig, req: (partition: number) => R): Promise<ResultFor<R>[]> {
  const waits: Promise<ResultFor<R>>[] = []
  for (let p = 0; p < t.partitions; p++) waits.push(ctx.pool.request(ownerOf(t.topic, p, ctx.pool.size), req(p)))
  return Promise.all(waits)
}
