/**
 * The soak's broker: the built `skiff broker` in its own process, on one
 * fixed port and one data dir for the whole soak, so it can be killed and
 * started again and the clients (which reconnect to one URL) find it.
 * Its JSON log lines are read continuously (a chatty broker never blocks on
 * a full pipe); the few that matter to a soak (repairs, failures) are kept.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import readline from 'node:readline'
import { SKIFF_BIN, brokerNodeFlags } from '../lib/paths.mjs'

const START_TIMEOUT_MS = 60_000
/** Log messages worth counting in the summary. */
const NOTABLE = /repaired|corrupt|fell back|unreadable|lost|failed|not saved|not written/

export { freePort } from '../lib/free-port.mjs'

/** VmRSS of a process in bytes, or null when it is gone (Linux /proc). */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}

export class BrokerRunner {
  /** @param {{ port: number, dataDir: string, args?: string[] }} opts */
  constructor(opts) {
    this.port = opts.port
    this.dataDir = opts.dataDir
    this.args = opts.args ?? []
    this.child = undefined
    this.exited = Promise.resolve()
    /** Every start: how long until "listening" (ms). */
    this.startTimes = []
    /** Notable log lines (message -> count). */
    this.notable = new Map()
    this.httpPort = undefined
    /** True from "listening" until a kill or stop begins: when an RSS sample means something. */
    this.up = false
  }

  get url() {
    return `skiff://127.0.0.1:${this.port}`
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  get pid() {
    return this.running ? this.child.pid : undefined
  }

  async start() {
    const started = performance.now()
    const child = spawn(
      process.execPath,
      [...(await brokerNodeFlags()), SKIFF_BIN, 'broker', '--port', String(this.port), '--http-port', '0', '--data-dir', this.dataDir, '--log-level', 'info', ...this.args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    let stderr = ''
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker did not log "listening" within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS)
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        let o
        try {
          o = JSON.parse(line)
        } catch {
          return
        }
        if (o.msg === 'listening') {
          clearTimeout(timer)
          this.httpPort = o.httpPort
          resolve()
        } else if (typeof o.msg === 'string' && NOTABLE.test(o.msg)) {
          this.notable.set(o.msg, (this.notable.get(o.msg) ?? 0) + 1)
        }
      })
      void this.exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`broker exited (${child.exitCode ?? child.signalCode}) before listening: ${stderr}`))
      })
    })
    const ms = performance.now() - started
    this.up = true
    this.startTimes.push(ms)
    return ms
  }

  async kill() {
    this.up = false
    if (!this.running) return
    this.child.kill('SIGKILL')
    await this.exited
  }

  /** SIGTERM; SIGKILL after `graceMs`. Resolves with the exit code (null when it had to be killed). */
  async stop(graceMs = 20_000) {
    this.up = false
    if (!this.running) return this.child?.exitCode ?? null
    const child = this.child
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
    return child.exitCode
  }
}
