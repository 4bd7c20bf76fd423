/**
 * Demo scaffolding, not part of using skiffmq: what every example's run.mjs
 * shares to show a whole system on one machine. It starts a throwaway broker
 * as a child process (free ports, a temp data dir), starts each part of the
 * system as its own process, watches their output, checks the outcome, and
 * stops everything on every path. In your own project the parts (the other
 * .mjs files of an example) run as you run any service, pointed at your
 * broker by SKIFF_URL; they import nothing from here.
 *
 * Decisions:
 * - Each part gets the broker's addresses as SKIFF_URL (skiff://) and
 *   SKIFF_TELEMETRY_URL (udp://), and its name as INSTANCE_NAME.
 * - Parts talk to the runner through their stdout only: each line is shown
 *   with the part's name in front, and the runner can wait for a line that
 *   matches. A line `@result <json>` is a part's machine-readable outcome.
 * - A global deadline (default 60 s) kills everything and exits 1, so an
 *   example can never hang CI. Exit 0 only when `main` returned normally,
 *   meaning the example checked its outcome.
 * - The broker is this repository's built CLI (dist/), and the parts import
 *   'skiffmq', which resolves to this repository's dist/ through package.json
 *   `exports` (a package can import itself by name): `npm run example:<name>`
 *   builds first when the sources changed (ensure-build.mjs).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SKIFF = path.join(ROOT, 'dist/cli/skiff.js')

/** A running child: its output lines, and waits on them. */
class Part {
  constructor(name, child, echo) {
    this.name = name
    this.child = child
    this.lines = []
    this.results = []
    this.waiters = []
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    const onLine = (line) => {
      this.lines.push(line)
      if (line.startsWith('@result ')) this.results.push(JSON.parse(line.slice(8)))
      else if (echo(line)) console.log(`[${name}] ${line}`)
      for (const w of [...this.waiters]) w(line)
    }
    readline.createInterface({ input: child.stdout }).on('line', onLine)
    readline.createInterface({ input: child.stderr }).on('line', (l) => console.log(`[${name}!] ${l}`))
  }

  /** Resolve with the first line (seen or to come) matching `re`; reject after `ms`. */
  waitFor(re, ms = 20_000) {
    const seen = this.lines.find((l) => re.test(l))
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check)
        reject(new Error(`${this.name}: no line matching ${re} within ${ms} ms`))
      }, ms)
      const check = (line) => {
        if (!re.test(line)) return
        clearTimeout(timer)
        this.waiters = this.waiters.filter((w) => w !== check)
        resolve(line)
      }
      this.waiters.push(check)
    })
  }

  /** Resolve with the part's `@result` once it has exited (exit code 0 required). */
  async result(ms = 20_000) {
    const exit = await Promise.race([this.exited, new Promise((_, rej) => setTimeout(() => rej(new Error(`${this.name} did not exit within ${ms} ms`)), ms).unref())])
    if (exit.code !== 0) throw new Error(`${this.name} exited with ${exit.code ?? exit.signal}`)
    if (this.results.length === 0) throw new Error(`${this.name} reported no @result`)
    return this.results[this.results.length - 1]
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000) {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

/**
 * Run an example: `main(ctx)` gets { url, port, httpPort, udpPort, dataDir,
 * part(name, script, args, env) } and returns the summary line. Exits the
 * process (0 on success, 1 on failure or timeout).
 */
export async function runExample(title, main, { timeoutMs = 60_000, brokerArgs = [], quiet = () => false, broker: withBroker = true } = {}) {
  const started = Date.now()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-example-'))
  const parts = []
  let code = 1
  const cleanup = async () => {
    // Parts first (they drain into the broker), the broker last.
    await Promise.all(parts.filter((p) => p.name !== 'broker').map((p) => p.stop()))
    await Promise.all(parts.filter((p) => p.name === 'broker').map((p) => p.stop(5000)))
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
  const deadline = setTimeout(async () => {
    console.error(`${title}: FAILED: did not finish within ${timeoutMs} ms`)
    for (const p of parts) p.child.kill('SIGKILL')
    fs.rmSync(dataDir, { recursive: true, force: true })
    process.exit(1)
  }, timeoutMs)
  const interrupted = () => {
    for (const p of parts) p.child.kill('SIGKILL')
    fs.rmSync(dataDir, { recursive: true, force: true })
    process.exit(130)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  try {
    console.log(`== ${title}`)
    // An example that brings its own brokers (the cluster) passes `broker: false`: its parts get SKIFF_URL from it.
    let listening = {}
    let url
    let broker
    if (withBroker) {
      broker = new Part(
        'broker',
        spawn(process.execPath, [SKIFF, 'broker', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'info', ...brokerArgs], { stdio: ['ignore', 'pipe', 'pipe'] }),
        (line) => /"level":"(warn|error|fatal)"/.test(line),
      )
      parts.push(broker)
      listening = JSON.parse(await broker.waitFor(/"msg":"listening"/, 15_000))
      url = `skiff://127.0.0.1:${listening.port}`
      console.log(`broker listening on ${url} (http ${listening.httpPort}, udp ${listening.udpPort})`)
    }
    const ctx = {
      url,
      port: listening.port,
      httpPort: listening.httpPort,
      udpPort: listening.udpPort,
      dataDir,
      broker,
      /** Start `script` (relative to the example's folder) as its own process. */
      part(name, script, args = [], env = {}) {
        const child = spawn(process.execPath, [script, ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, SKIFF_URL: url, SKIFF_TELEMETRY_URL: `udp://127.0.0.1:${listening.udpPort}`, INSTANCE_NAME: name, ...env },
        })
        const p = new Part(name, child, (line) => !quiet(name, line))
        parts.push(p)
        return p
      },
    }
    const summary = await main(ctx)
    console.log(`${title}: OK: ${summary} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    code = 0
  } catch (err) {
    console.error(`${title}: FAILED: ${err?.stack ?? err}`)
  } finally {
    clearTimeout(deadline)
    await cleanup()
  }
  process.exit(code)
}

/** Throw unless `cond`, with `what` as the message. */
export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`)
}
