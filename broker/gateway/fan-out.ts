/** Asking every partition of a topic the same question, each of its owning worker. */
import { ownerOf } from '../routing.js'
import type { TopicConfig } from '../thread-messages.js'
import type { GatewayContext } from './context.js'

export type PoolRequest = Parameters<GatewayContext['pool']['request']>[1]

/** The owners' answers in partition order; `T` is what the request's worker handler answers. */
export function perPartition<T = unknown>(ctx: GatewayContext, t: TopicConfig, req: (partition: number) => PoolRequest): Promise<T[]> {
  const waits: Promise<unknown>[] = []
  for (let p = 0; p < t.partitions; p++) waits.push(ctx.pool.request(ownerOf(t.topic, p, ctx.pool.size), req(p)))
  return Promise.all(waits) as Promise<T[]>
}
