/**
 * Partition worker entry point. It owns a fixed set of partitions (see
 * ownerOf) and everything about them: logs, fsync/group commit, group cursors,
 * ack deadlines, redelivery, dead letters, retention. It receives one batch of
 * ops per gateway turn and answers with one batch per own turn. The turn
 * itself is PartitionWorker's; this file wires it to the thread: the port to
 * the gateway and the real timers.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { FromWorker, ToWorker, WorkerData } from '../thread-messages.js'
import { ThreadCodec, type ThreadMessage } from '../thread-codec.js'
import { releaseWhenIdle } from '../memory/idle-release.js'
import { releaseReadCaches } from '../storage/read-cache.js'
import { PartitionWorker } from './partition-worker.js'

const port = parentPort!
// This thread's codec for what crosses to and from the gateway (its scratch buffers are its own).
const codec = new ThreadCodec()
const intervals: NodeJS.Timeout[] = []

const worker = new PartitionWorker({
  data: workerData as WorkerData,
  post: (ops: FromWorker[]) => {
    // DELIVER frames and fetched batches transferred rather than copied (thread-codec.ts).
    const m = codec.packMessage(ops)
    port.postMessage(m, Array.isArray(m) ? m : [m])
  },
  // The 'stop' op: no timer runs while (and after) the partitions close.
  onStop: () => {
    for (const t of intervals) clearInterval(t)
    idleRelease.stop()
  },
})

port.on('message', (m: ThreadMessage) => worker.handle(codec.unpackMessage(m) as ToWorker[]))

for (const timer of worker.timers()) intervals.push(setInterval(timer.tick, timer.ms))

// Once idle after work: read caches emptied and a full GC, so the thread's memory goes back to the system.
const idleRelease = releaseWhenIdle(releaseReadCaches)

// Open (recover) the owned partitions and send what that logged and counted and the first
// gauges, then tell the gateway this worker is loaded: it handles all of it before it says
// the broker is listening.
worker.start()
port.postMessage({ t: 'ready', module: import.meta.url })
