/**
 * REPL_FETCH: a follower broker pulling the partitions this broker leads
 * (protocol/frames/replication.ts). Only the cluster's broker user may
 * fetch. The partitions go to the workers that own them, one op per worker;
 * each worker answers at once when it has something, or holds the fetch up
 * to maxWaitMs (worker/fetch-sessions.ts). As soon as one worker answers
 * with data, the others are woken so the follower is not kept waiting on an
 * idle worker: the REPL_DATA goes out when every worker has answered.
 * A connection has one fetch in flight at a time (a follower never needs
 * more); a second is INVALID_REQUEST, so a connection costs at most one
 * held fetch per worker.
 */
import { REPL_DATA_BYTES, REPL_GROUP_BYTES, SkiffError, decodeReplFetch, encodeReplDataChunks, type FetchPartition, type FetchedPartition } from '../../../protocol/index.js'
import type { HandlerConnection } from '../handler-connection.js'
import { ownerOf } from '../../routing.js'
import { requireBroker } from './request.js'
import type { FetchAnswer } from '../../worker/replication.js'

const fetching = new WeakSet<HandlerConnection>()
let nextSession = 1

export async function onReplFetch(conn: HandlerConnection, body: Buffer): Promise<void> {
  const req = decodeReplFetch(body)
  const { ctx } = conn
  requireBroker(conn, 'fetch replicated partitions', 'replicate')
  const cluster = ctx.cluster
  if (!cluster) throw new SkiffError('INVALID_REQUEST', 'REPL_FETCH: this broker is not in a cluster')
  if (fetching.has(conn)) throw new SkiffError('INVALID_REQUEST', 'REPL_FETCH: a fetch is already in flight on this connection')
  if (!cluster.joined) await cluster.whenJoined
  const byWorker = new Map<number, FetchPartition[]>()
  for (const p of req.partitions) {
    const w = ownerOf(p.topic, p.partition, ctx.pool.size)
    let list = byWorker.get(w)
    if (!list) byWorker.set(w, (list = []))
    list.push(p)
  }
  if (byWorker.size === 0) {
    conn.sendChunks(encodeReplDataChunks({ corr: req.corr, partitions: [] }))
    return
  }
  fetching.add(conn)
  const session = nextSession++
  const out: FetchAnswer[] = []
  const waiting = new Set(byWorker.keys())
  let failed = false
  for (const [worker, fetch] of byWorker) {
    // The answer's batches stay within REPL_DATA_BYTES over all workers (a follower reads frames up to replDataFrameLimit).
    const maxBytes = Math.floor(REPL_DATA_BYTES / byWorker.size)
    ctx.pool.call(worker, { t: 'replFetch', session, follower: req.brokerId, maxWaitMs: req.maxWaitMs, maxBytes, fetch }, (err, answers) => {
      waiting.delete(worker)
      if (err) {
        if (!failed) conn.error(err, req.corr)
        failed = true
      } else {
        out.push(...answers!)
        // Something to send: the workers still holding this fetch answer now.
        if (answers!.some((a) => a.batches.length > 0 || a.divergingEpoch || a.error)) for (const w of waiting) ctx.pool.send(w, { t: 'replWake', session })
      }
      if (waiting.size > 0) return
      fetching.delete(conn)
      if (failed) return
      cluster.replicator.fetched(req.brokerId, req.incarnation, out)
      conn.sendChunks(encodeReplDataChunks({ corr: req.corr, partitions: fitFrame(out, ctx.config.maxFrame) }))
    })
  }
}

/**
 * The workers' answers as REPL_DATA partitions, within what a follower reads. Each worker keeps to
 * its share of REPL_DATA_BYTES but may pass it by one whole batch (of up to about maxFrame), so
 * several workers together could pass replDataFrameLimit, and the follower would close the link
 * and fetch the same again for ever. Past REPL_DATA_BYTES + maxFrame, a partition's batches are
 * left for the next fetch (its acknowledgement is counted already); the first partition with
 * batches keeps them, so the follower always makes progress.
 */
export function fitFrame(answers: FetchAnswer[], maxFrame: number): FetchedPartition[] {
  let bytes = 0
  let groupBytes = 0
  return answers.map((a) => {
    const p = strip(a)
    if (bytes > 0 && bytes + p.batches.length > REPL_DATA_BYTES + maxFrame) p.batches = NO_BATCHES
    bytes += p.batches.length
    // Group state has its own share (REPL_GROUP_BYTES): past it, a partition's groups go with a later answer.
    if (p.groups && groupBytes + p.groups.length > REPL_GROUP_BYTES) p.groups = undefined
    groupBytes += p.groups?.length ?? 0
    return p
  })
}

const NO_BATCHES = new Uint8Array(0)

function strip(a: FetchAnswer): FetchedPartition {
  return { topic: a.topic, partition: a.partition, hw: a.hw, leaderEnd: a.leaderEnd, batches: a.batches, divergingEpoch: a.divergingEpoch, error: a.error, groups: a.groups, logStart: a.logStart }
}
