/**
 * Where accepted telemetry goes: the same path as a fire-and-forget PUBLISH.
 * The topic is looked up (or auto-created, when allowed and within
 * maxTopics: the registry checks and reserves it, as for PUBLISH), the
 * records are split by partition with the publish path's splitByPartition
 * (which also checks every record and its headers), and each part goes to its
 * owning worker as a `pub` op with confirm false, batched with everything
 * else the gateway sends that worker this turn.
 */
import { SkiffError } from '../../../protocol/errors.js'
import { ownerOf, splitByPartition } from '../../routing.js'
import type { GatewayContext } from '../context.js'
import type { TopicConfig } from '../../thread-messages.js'
import type { StoreDatagram } from './ingest.js'
import type { UdpResult } from '../../observability/metrics.js'

export function storeInWorkers(ctx: GatewayContext): StoreDatagram {
  let roundRobin = 0
  return (d, done) => {
    if (ctx.draining) return done('shutting_down')
    const known = ctx.topics.get(d.topic)
    if (known) return send(known)
    // Check the records before a datagram may create a topic.
    try {
      splitByPartition(d.records, d.count, 1, 0)
    } catch {
      return done('malformed')
    }
    ctx.topics.ensure(d.topic, false).then(send, (err: unknown) => done(topicFailure(err)))

    function send(topic: TopicConfig): void {
      // In a cluster keyless records go to a partition led here, and a keyed one led elsewhere drops the datagram
      // (not forwarded: PROTOCOL.md, Telemetry datagrams).
      const here = ctx.cluster?.ledHere(d.topic, topic.partitions)
      if (here?.length === 0) return done('not_leader')
      let parts
      try {
        parts = splitByPartition(d.records, d.count, topic.partitions, here ? here[roundRobin++ % here.length]! : roundRobin++)
      } catch {
        return done('malformed')
      }
      if (ctx.cluster && parts.some((p) => ctx.cluster!.refusal(d.topic, p.partition) !== undefined)) return done('not_leader')
      let remaining = parts.length
      let failed = false
      for (const part of parts) {
        ctx.pool.call(
          ownerOf(d.topic, part.partition, ctx.pool.size),
          { t: 'pub', topic: d.topic, partition: part.partition, count: part.count, records: part.records, confirm: false },
          (err) => {
            if (failed) return
            if (err) {
              failed = true
              return done(err.codeName === 'SHUTTING_DOWN' ? 'shutting_down' : 'failed')
            }
            if (--remaining === 0) done('accepted')
          },
        )
      }
    }
  }
}

function topicFailure(err: unknown): UdpResult {
  if (!(err instanceof SkiffError)) return 'failed'
  if (err.codeName === 'UNKNOWN_TOPIC') return 'unknown_topic'
  // Not created because maxTopics is reached (checked by the registry, as for PUBLISH): it stays unknown.
  if (err.codeName === 'INVALID_REQUEST' && err.details?.limit === 'maxTopics') return 'unknown_topic'
  if (err.codeName === 'INVALID_REQUEST') return 'bad_topic'
  return 'failed'
}
