/**
 * End-to-end helpers: a real broker (startBroker on port 0, a temp data dir)
 * and the real client. Every wait is bounded so a broker bug fails a test
 * instead of hanging the run.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startBroker, type BrokerConfig, type RunningBroker } from '../../broker/index.js'
import { connect, type Client, type ConnectOptions, type Consumer, type Message } from '../../clients/index.js'

/** Each e2e file runs its tests with one worker thread and with several. */
export const WORKER_COUNTS = [1, 3] as const

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestBroker {
  broker: RunningBroker
  url: string
  dataDir: string
  /** A client closed at teardown. */
  client(opts?: ConnectOptions): Promise<Client>
  /** Close the broker and start a new one on the same data dir (new port). */
  restart(): Promise<void>
}

export async function startTestBroker(t: Teardown, workers: number, opts: Partial<BrokerConfig> = {}): Promise<TestBroker> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-e2e-'))
  const config = { port: 0, host: '127.0.0.1', workers, logLevel: 'silent' as const, ...opts, dataDir }
  const clients: Client[] = []
  let broker: RunningBroker
  try {
    broker = await startBroker(config)
  } catch (err) {
    // A test of a start that fails (bad options, a port in use) leaves no directory behind.
    fs.rmSync(dataDir, { recursive: true, force: true })
    throw err
  }
  const tb: TestBroker = {
    broker,
    dataDir,
    get url() {
      return `skiff://127.0.0.1:${this.broker.port}`
    },
    async client(copts = {}) {
      const c = await connect(tb.url, { name: 'e2e', requestTimeoutMs: 10_000, ...copts })
      clients.push(c)
      return c
    },
    async restart() {
      await Promise.all(clients.splice(0).map((c) => c.close()))
      await tb.broker.close()
      tb.broker = await startBroker(config)
    },
  }
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})))
    await tb.broker.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  return tb
}

/**
 * Reads a consumer with a deadline per read, keeping an unanswered read for
 * the next call, so "nothing arrives within X" never loses the message that
 * arrives after X.
 */
export class Reader {
  private pending: Promise<IteratorResult<Message>> | undefined

  constructor(readonly consumer: Consumer) {}

  /** The next message, or undefined when none arrives within `ms` (or the consumer ended). */
  async next(ms: number): Promise<Message | undefined> {
    this.pending ??= this.consumer.next()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))
    const r = await Promise.race([this.pending, timeout])
    clearTimeout(timer)
    if (r === 'timeout') return undefined
    this.pending = undefined
    return r.done ? undefined : r.value
  }

  /** Exactly `n` messages, each within `ms`; throws naming how many came. */
  async take(n: number, ms = 5000): Promise<Message[]> {
    const out: Message[] = []
    while (out.length < n) {
      const m = await this.next(ms)
      if (!m) throw new Error(`expected ${n} messages from ${this.consumer.topic}/${this.consumer.group}, got ${out.length} (nothing more within ${ms} ms)`)
      out.push(m)
    }
    return out
  }
}

export async function publishAll(client: Client, topic: string, payloads: unknown[], key?: (i: number) => string): Promise<{ partition: number; offset: number }[]> {
  const producer = client.producer()
  return Promise.all(payloads.map((p, i) => producer.publish(topic, p, key ? { key: key(i) } : {})))
}

/** Poll `check` until true; bounded. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
