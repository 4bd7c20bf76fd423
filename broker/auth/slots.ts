/**
 * A small bound on concurrent expensive jobs (scrypt checks) with a bounded
 * wait list. Past the wait list a job is refused at once: under a flood of
 * bad tokens the broker answers "busy" instead of queueing work without end,
 * and libuv's thread pool (shared with file I/O) keeps threads free.
 */
export class Slots {
  private running = 0
  private readonly waiting: (() => void)[] = []

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  /** Run `job` when a slot frees; undefined when the wait list is full. */
  run<T>(job: () => Promise<T>): Promise<T> | undefined {
    if (this.running >= this.concurrency && this.waiting.length >= this.maxWaiting) return undefined
    return this.acquire().then(async () => {
      try {
        return await job()
      } finally {
        this.release()
      }
    })
  }

  private acquire(): Promise<void> {
    if (this.running < this.concurrency) {
      this.running++
      return Promise.resolve()
    }
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  private release(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.running--
  }
}
