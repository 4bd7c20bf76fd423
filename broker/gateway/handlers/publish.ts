/**
 * PUBLISH: validate, split by partition, hand each part to its owner, and
 * answer PUBLISH_ACK once every part is durable (the worker confirms after the
 * fsync that covers it). Fire-and-forget publishes get no answer unless they
 * fail. The connection stops being read while too many bytes await confirms.
 */
import { SkiffError, checkName, decodePublish, encodePublishAck, isDeadLetterTopic, type Publish } from '../../../protocol/index.js'
import { requireAccess } from '../../auth/guard.js'
import type { HandlerConnection } from '../handler-connection.js'
import { ownerOf, splitByPartition, type PartitionPart } from '../../routing.js'
import type { ClusterNode } from '../../cluster/cluster-node.js'
import { PublishFences } from '../../publish-fences.js'
import { ownsItsBuffer, transferOnPost } from '../../thread-codec.js'

let roundRobin = 0

/** In a cluster, per connection that had a batch refused retriably: what must wait behind it (publish-fences.ts). */
const fencesByConn = new WeakMap<HandlerConnection, PublishFences>()

function fencesOf(conn: HandlerConnection): PublishFences {
  let fences = fencesByConn.get(conn)
  if (!fences) fencesByConn.set(conn, (fences = new PublishFences()))
  return fences
}

export async function onPublish(conn: HandlerConnection, body: Buffer): Promise<void> {
  const received = performance.now()
  const pub = decodePublish(body)
  const { ctx } = conn
  if (ctx.draining) throw new SkiffError('SHUTTING_DOWN')
  if (pub.count < 1) throw new SkiffError('INVALID_REQUEST', 'PUBLISH.count must be at least 1')
  const existing = ctx.topics.get(pub.topic)
  if (!existing) checkName('topic', pub.topic) // a malformed name is INVALID_REQUEST, not FORBIDDEN
  requireAccess(conn, 'publish', pub.topic)
  if (isDeadLetterTopic(pub.topic)) throw new SkiffError('INVALID_REQUEST', `${pub.topic} is a dead-letter topic: only the broker writes to it`)
  // Counted before the first await: frames read while a new topic is being
  // created would otherwise escape the per-connection and broker-wide publish
  // budgets (their bytes are held all the same).
  const bytes = pub.records.length
  conn.publishStarted(bytes)
  // Keyless records of an idempotent batch go where its sequence says, so a
  // re-sent batch lands in the partition that already holds it.
  const idempotent = pub.producerId !== undefined && pub.sequence !== undefined
  let parts: PartitionPart[]
  try {
    // Records that cannot be stored never create their topic (as for UDP telemetry): checked first.
    if (!existing) splitByPartition(pub.records, pub.count, 1, 0)
    // A broker still joining its cluster answers once it knows where partitions live (cluster-node.ts).
    if (ctx.cluster && !ctx.cluster.joined) await ctx.cluster.whenJoined
    // A new topic is counted against maxTopics and reserved before the write starts (topics.ts).
    const topic = existing ?? (await ctx.topics.ensure(pub.topic, false))
    const turn = idempotent ? pub.producerId! + pub.sequence! : roundRobin++
    // In a cluster keyless records go to a partition led here (a client sends them to any broker);
    // keyed ones go where their key hashes, and must be led here.
    if (pub.partition !== undefined) {
      // Named by the client: every record goes there, whatever its key (checked all the same).
      if (pub.partition >= topic.partitions) throw new SkiffError('INVALID_REQUEST', `topic ${pub.topic} has no partition ${pub.partition} (it has ${topic.partitions})`, { details: { topic: pub.topic, partition: pub.partition } })
      parts = [{ ...splitByPartition(pub.records, pub.count, 1, 0)[0]!, partition: pub.partition }]
    } else {
      const here = ctx.cluster?.ledHere(pub.topic, topic.partitions)
      parts = splitByPartition(pub.records, pub.count, topic.partitions, here?.length ? here[turn % here.length]! : turn)
    }
    // In a cluster every part must be led here, or none is stored: the client resends the batch to the leader.
    if (ctx.cluster) for (const part of parts) refuseUnlessLed(conn, ctx.cluster, pub, part.partition, idempotent)
  } catch (err) {
    conn.publishEnded(bytes)
    throw err
  }

  const offsets: number[] = new Array(parts.length)
  let remaining = parts.length
  let failed = false
  parts.forEach((part, i) => {
    // Records alone in their buffer go to the worker without a copy: a frame the decoder
    // assembled from several socket reads (a large PUBLISH; its opcode before the body), or a
    // part splitByPartition gathered from several keys. A frame inside a socket read shares
    // it with the frames around it, so its records are copied into the thread message.
    if (part.records === pub.records ? ownsItsBuffer(body, 1) : ownsItsBuffer(part.records)) transferOnPost(part.records)
    ctx.pool.call(
      ownerOf(pub.topic, part.partition, ctx.pool.size),
      {
        t: 'pub',
        topic: pub.topic,
        partition: part.partition,
        count: part.count,
        records: part.records,
        confirm: pub.confirm,
        producerId: idempotent ? pub.producerId : undefined,
        sequence: idempotent ? pub.sequence : undefined,
      },
      (err, result) => {
        if (failed) return
        if (err) {
          failed = true
          if (ctx.cluster && idempotent && err.retriable) fencesOf(conn).refused(pub.producerId!, pub.sequence!, pub.topic, part.partition, err, Date.now())
          conn.publishEnded(bytes)
          conn.error(err, pub.corr)
          return
        }
        offsets[i] = result!
        if (--remaining > 0) return
        conn.publishEnded(bytes)
        if (!pub.confirm) return
        conn.send(encodePublishAck(ack(pub.corr, pub.count, parts, offsets)))
        ctx.metrics.publishConfirmed((performance.now() - received) / 1000)
      },
    )
  })
}

/** Refuse a part this broker may not store now, or one that a refused batch of its producer must precede (publish-fences.ts). */
function refuseUnlessLed(conn: HandlerConnection, cluster: ClusterNode, pub: Publish, partition: number, idempotent: boolean): void {
  const behind = idempotent ? fencesByConn.get(conn)?.check(pub.producerId!, pub.sequence!, pub.topic, partition, Date.now()) : undefined
  if (behind) throw behind
  const refusal = cluster.refusal(pub.topic, partition)
  if (!refusal) return
  if (idempotent) fencesOf(conn).refused(pub.producerId!, pub.sequence!, pub.topic, partition, refusal, Date.now())
  throw refusal
}

function ack(corr: number, count: number, parts: PartitionPart[], bases: number[]) {
  if (parts.length === 1) return { corr, partition: parts[0]!.partition, offset: bases[0]! }
  const partition = new Array<number>(count)
  const offset = new Array<number>(count)
  parts.forEach((part, i) => {
    part.indexes!.forEach((index, j) => {
      partition[index] = part.partition
      offset[index] = bases[i]! + j
    })
  })
  return { corr, partition, offset }
}
