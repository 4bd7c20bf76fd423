/**
 * A small bound on concurrent expensive jobs (scrypt checks) with a bounded
 * wait list. Past the wait list a job is refused at once: under a flood of
 * bad tokens the broker answers "busy" instead of queueing work without end,
 * and libuv's thread pool (shared with file I/O) keeps threads free.
 *
 * Decision: a job carries the AbortSignal of whoever wants its answer (the
 * HELLO's socket). Aborted while it waits, it leaves the wait list at once and
 * never runs, so a client that connects, sends HELLO and hangs up costs no
 * scrypt. A job already running is not stopped (libuv cannot cancel a thread
 * pool task); its caller is told at once and the result is dropped.
 */

/** Why a job never ran: its signal was aborted while it waited. */
export class JobCancelled extends Error {
  override name = 'JobCancelled'
}

interface Waiter {
  start(): void
  cancel(): void
}

export class Slots {
  private running = 0
  private readonly waiting = new Set<Waiter>()
  /** Jobs that left the wait list unrun because their signal was aborted (for the metrics). */
  cancelled = 0
  /** Jobs started. */
  started = 0

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  /** Run `job` when a slot frees; undefined when the wait list is full; rejects with JobCancelled when `signal` aborts first. */
  run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> | undefined {
    if (this.running >= this.concurrency && this.waiting.size >= this.maxWaiting) return undefined
    if (signal?.aborted) {
      this.cancelled++
      return Promise.reject(new JobCancelled('cancelled before it started'))
    }
    return this.acquire(signal).then(async () => {
      this.started++
      try {
        return await job()
      } finally {
        this.release()
      }
    })
  }

  private acquire(signal: AbortSignal | undefined): Promise<void> {
    if (this.running < this.concurrency) {
      this.running++
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => waiter.cancel()
      const waiter: Waiter = {
        // The slot passes straight from release() to this job: `running` stays as it is.
        start: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        cancel: () => {
          this.waiting.delete(waiter)
          this.cancelled++
          reject(new JobCancelled('cancelled while waiting'))
        },
      }
      this.waiting.add(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  private release(): void {
    // A Set iterates in insertion order: the longest waiter goes first.
    const next = this.waiting.values().next()
    if (next.done) {
      this.running--
      return
    }
    this.waiting.delete(next.value)
    next.value.start()
  }
}
