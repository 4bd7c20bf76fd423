/**
 * The gateway's side of the worker pool. Ops for a worker are queued and sent
 * as one transferred buffer per event-loop turn; a worker's answers arrive the
 * same way and are dispatched here: replies to their waiting callers, frames to
 * their connections, topics and log lines to the gateway.
 */
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { workerModule } from './worker-module.js'
import { SkiffError, type ErrorName } from '../../protocol/errors.js'
import { ThreadCodec, type ThreadMessage } from '../thread-codec.js'
import type { FromWorker, ResultFor, ToWorker, TopicConfig, WorkerData } from '../thread-messages.js'
import type { FollowerPosition } from '../worker/replica-fetcher.js'
import type { Logger } from '../logger.js'
import { logEvent } from '../logger.js'
import { setWorkerHeapFlag } from '../heap-settings.js'

/**
 * A worker's young generation: 96 MiB (two 32 MiB semi-spaces) instead of
 * V8's 32. Nearly everything a worker allocates (ops, records, deliveries)
 * dies within a turn; a larger nursery scavenges half as often and promotes
 * less, which cut the broker's CPU per message in S1 by ~15% (bench/README.md)
 * for ~10 MiB more resident memory under load.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 96 }

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
export type WorkerRequest = DistributiveOmit<Extract<ToWorker, { id: number }>, 'id'>

export interface PoolEvents {
  out(conn: number, bytes: Uint8Array): void
  topic(config: TopicConfig): void
  /** A worker's metric counts or gauge sample (observability/worker-metrics.ts). */
  metrics(op: Extract<FromWorker, { t: 'metrics' | 'gauges' }>): void
  /** Where followed partitions stand after a worker's appends (cluster mode). */
  followed?(positions: FollowerPosition[]): void
}

interface Waiter {
  resolve(value: unknown): void
  reject(err: SkiffError): void
}

/** What a worker posts once it is loaded and has recovered its partitions. */
interface Ready {
  t: 'ready'
  /** The worker's own module URL: which file actually runs in the thread. */
  module: string
}

export class WorkerPool {
  private readonly workers: Worker[] = []
  private readonly queues: ToWorker[][] = []
  private scheduled = false
  private readonly waiting = new Map<number, Waiter>()
  private nextId = 1
  /** This thread's side of the ops to and from the workers. */
  private readonly codec = new ThreadCodec()
  /** The worker module the threads run, as they report it once loaded. */
  workerFile = ''

  constructor(
    readonly size: number,
    private readonly data: Omit<WorkerData, 'workerId' | 'workers'>,
    private readonly events: PoolEvents,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const ready: Promise<void>[] = []
    const { url, warning } = workerModule()
    if (warning) this.logger.warn({ workerFile: fileURLToPath(url) }, warning)
    // The workers' isolates start their old generation as the main thread's does (heap-settings.ts).
    setWorkerHeapFlag()
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(url, { workerData: { ...this.data, workerId: i, workers: this.size } satisfies WorkerData, resourceLimits: WORKER_LIMITS })
      // 'ready' says the worker is loaded and has opened (recovered) its partitions; the batch
      // before it carries what recovery logged and counted, so that is out before "listening".
      ready.push(
        new Promise((resolve, reject) => {
          w.on('message', (m: ThreadMessage | Ready) => {
            if (m instanceof ArrayBuffer || Array.isArray(m)) return this.receive(m)
            this.workerFile = fileURLToPath(m.module)
            resolve()
          })
          w.once('error', reject)
        }),
      )
      w.on('error', (err) => {
        this.logger.error({ worker: i, err: err.stack }, 'worker failed')
        this.failAll(new SkiffError('INTERNAL', `worker ${i} failed: ${err.message}`))
      })
      this.workers.push(w)
      this.queues.push([])
    }
    await Promise.all(ready)
  }

  /** Requests waiting for a worker's answer (publishes, subscribes, admin). */
  get pending(): number {
    return this.waiting.size
  }

  send(worker: number, op: ToWorker): void {
    this.queues[worker]!.push(op)
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  broadcast(op: ToWorker): void {
    for (let i = 0; i < this.size; i++) this.send(i, op)
  }

  /** Send a request; `done` gets the worker's result (what Results says the op answers) or error exactly once. */
  call<R extends WorkerRequest>(worker: number, req: R, done: (err: SkiffError | null, result?: ResultFor<R>) => void): void {
    const id = this.nextId++
    // The worker answers each request op with its Results type (worker/main.ts).
    this.waiting.set(id, { resolve: (v) => done(null, v as ResultFor<R>), reject: (e) => done(e) })
    this.send(worker, { ...req, id } as ToWorker)
  }

  request<R extends WorkerRequest>(worker: number, req: R): Promise<ResultFor<R>> {
    return new Promise((resolve, reject) => this.call(worker, req, (err, v) => (err ? reject(err) : resolve(v!))))
  }

  private flush(): void {
    this.scheduled = false
    for (let i = 0; i < this.size; i++) {
      const q = this.queues[i]!
      if (q.length === 0) continue
      this.queues[i] = []
      const m = this.codec.packMessage(q)
      this.workers[i]!.postMessage(m, Array.isArray(m) ? m : [m])
    }
  }

  private receive(m: ThreadMessage): void {
    for (const op of this.codec.unpackMessage(m) as FromWorker[]) {
      switch (op.t) {
        case 'done':
        case 'fail': {
          const w = this.waiting.get(op.id)
          if (!w) break
          this.waiting.delete(op.id)
          if (op.t === 'done') w.resolve(op.result)
          else w.reject(new SkiffError(op.code as ErrorName, op.message))
          break
        }
        case 'out':
          this.events.out(op.conn, op.bytes)
          break
        case 'topic':
          this.events.topic(op.config)
          break
        case 'log':
          logEvent(this.logger, op.event)
          break
        case 'metrics':
        case 'gauges':
          this.events.metrics(op)
          break
        case 'followed':
          this.events.followed?.(op.positions)
          break
      }
    }
  }

  private failAll(err: SkiffError): void {
    for (const w of this.waiting.values()) w.reject(err)
    this.waiting.clear()
  }

  /** Ask every worker to sync and save, then end the threads. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((_, i) => this.request(i, { t: 'stop' })))
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}
