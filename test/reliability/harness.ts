/**
 * What the reliability tests share: a broker in its own process (the built
 * `skiff broker`, so it can be SIGKILLed) that restarts on the same port and
 * data dir, readings of that process from /proc (RSS, open descriptors), a
 * /metrics scrape, a seeded random source and bounded waits.
 *
 * Decision: the port is fixed for the life of a BrokerRunner (a free port is
 * picked once), so a client that reconnects to one URL finds the restarted
 * broker, as it would a real daemon restarted by systemd.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { DEFAULTS } from '../../broker/config.js'
import { freePort, freePorts } from '../../bench/lib/free-port.mjs'
import { atExit } from '../../bench/lib/at-exit.mjs'

const cli = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))

export type LogLine = Record<string, unknown>

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A wait to race other promises against: its timer does not keep the process alive once the rest is done. */
export const timeout = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref())

// Ports for brokers that restart on the same address (below the kernel's ephemeral range): the bench's picker.
export { freePort, freePorts }

/** A fresh temp dir, removed by `t.teardown`. */
export function tempDir(t: { teardown(fn: () => unknown): void }, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `skiff-${prefix}-`))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Poll `check` every 20 ms until it returns a truthy value; undefined after `ms`. */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms: number): Promise<T | undefined> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) return undefined
    await sleep(20)
  }
}

/** Run `fn` over `items`, `width` at a time. */
export async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

/** Deterministic random numbers in [0, 1) (mulberry32): a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** The seed for this run: SKIFF_SEED when given, else the clock. */
export function runSeed(): number {
  const s = Number(process.env.SKIFF_SEED)
  return Number.isInteger(s) && s > 0 ? s : Date.now() % 1_000_000_007
}

/** Resident set size of a process, bytes (VmRSS in /proc/<pid>/status); undefined when it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** Open file descriptors of a process (entries of /proc/<pid>/fd); undefined when it is gone. */
export function openFds(pid: number): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return undefined
  }
}

/** Sockets among a process's descriptors. */
export function openSockets(pid: number): number | undefined {
  try {
    let n = 0
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++
      } catch {
        // closed while we looked
      }
    }
    return n
  } catch {
    return undefined
  }
}

/** GET a path on 127.0.0.1:port; the body, or undefined when nothing answers within 2 s. */
export function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 2000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', () => resolve(undefined))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
  })
}

/** Sum of a metric's samples (all label sets) in a Prometheus text exposition; undefined when absent. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const set = m[2] ?? ''
    if (!Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) continue
    sum = (sum ?? 0) + Number(m[3])
  }
  return sum
}

/** True when this build of the broker has the HTTP metrics port. */
export const HAS_HTTP_PORT = 'httpPort' in DEFAULTS

export interface RunnerOptions {
  dataDir: string
  /** More `skiff broker` flags (e.g. --workers 2). */
  args?: string[]
  env?: NodeJS.ProcessEnv
  /** How long a start may take before it counts as a failure. Default 20 s. */
  startTimeoutMs?: number
  /** The port to listen on (default: a free one), for a test that must name it before the broker starts. */
  port?: number
}

/** One broker process at a time on a fixed port and data dir; start, kill, start again. */
export class BrokerRunner {
  child: ChildProcess | undefined
  /** Every JSON log line of every run, in order. */
  readonly lines: LogLine[] = []
  /** Log lines of the current run. */
  runLines: LogLine[] = []
  httpPort: number | undefined
  private exited: Promise<void> = Promise.resolve()
  private stderr = ''

  private constructor(
    readonly port: number,
    private readonly opts: RunnerOptions,
  ) {}

  static async create(opts: RunnerOptions): Promise<BrokerRunner> {
    return new BrokerRunner(opts.port ?? (await freePort()), opts)
  }

  get url(): string {
    return `skiff://127.0.0.1:${this.port}`
  }

  get pid(): number {
    return this.child!.pid!
  }

  /** The broker's data directory. */
  get dataDir(): string {
    return this.opts.dataDir
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /**
   * Spawn the broker and wait for its `listening` line; resolves with how long
   * that took (ms). `extraArgs` apply to this run only.
   */
  async start(extraArgs: string[] = []): Promise<number> {
    if (this.running) throw new Error('the broker is already running')
    const started = performance.now()
    const extra = HAS_HTTP_PORT ? ['--http-port', '0'] : []
    const child = spawn(process.execPath, [cli, 'broker', '--port', String(this.port), ...extra, ...(this.opts.args ?? []), ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.opts.env },
    })
    this.child = child
    this.runLines = []
    this.stderr = ''
    // SIGKILLed if this process exits without its teardown (a runner interrupted, a test cut off):
    // SIGKILL also ends a broker a test paused with SIGSTOP, which nothing else would.
    const forget = atExit(() => child.kill('SIGKILL'))
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        forget()
        resolve()
      }),
    )
    child.stderr!.on('data', (d) => (this.stderr = (this.stderr + d).slice(-4000)))
    const timeoutMs = this.opts.startTimeoutMs ?? 20_000
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker did not log "listening" within ${timeoutMs} ms: ${this.stderr}`)), timeoutMs)
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        let obj: LogLine
        try {
          obj = JSON.parse(line) as LogLine
        } catch {
          return // not a log line
        }
        this.lines.push(obj)
        this.runLines.push(obj)
        if (obj.msg === 'listening') {
          clearTimeout(timer)
          this.httpPort = typeof obj.httpPort === 'number' ? obj.httpPort : undefined
          resolve()
        }
      })
      void this.exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`broker exited (${child.exitCode ?? child.signalCode}) before listening: ${this.stderr}`))
      })
    })
    return performance.now() - started
  }

  /** SIGKILL: no shutdown code runs. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) return
    this.child!.kill('SIGKILL')
    await this.exited
  }

  /** SIGTERM and wait (bounded) for the exit; returns the exit code (null: killed after the bound). */
  async stop(graceMs = 15_000): Promise<number | null> {
    const child = this.child
    if (!child || !this.running) return child?.exitCode ?? null
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
    return child.exitCode
  }

  /** /metrics of the running broker, or undefined when this build has no HTTP port. */
  async metrics(): Promise<string | undefined> {
    if (this.httpPort === undefined) return undefined
    return (await httpGet(this.httpPort, '/metrics'))?.body
  }

  /** Log lines (all runs) whose msg is `msg`. */
  logged(msg: string): LogLine[] {
    return this.lines.filter((l) => l.msg === msg)
  }
}
