/**
 * What the three peer servers (NATS, Redis, RabbitMQ) share when the bench
 * runs one: find its binary, make a fresh temp dir, spawn it, keep the last
 * lines of its output, wait (bounded) until it accepts clients, and stop it
 * with SIGKILL by pid (or by process group) and remove the dir. A killed run
 * leaves nothing behind: the dirs are throwaway and nothing is read back.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'

const KEEP_LOG_LINES = 30
const STOP_TIMEOUT_MS = 10_000
// Debian puts server binaries in /usr/sbin, which a non-root PATH often lacks.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin']

/** Servers still running, so an interrupted bench leaves no server or temp dir behind. */
const live = new Set()
process.once('exit', () => {
  for (const kill of live) kill()
})

/** Absolute path of an executable found on PATH or in the usual sbin dirs; null when absent. */
export function findBinary(name, extraDirs = []) {
  if (path.isAbsolute(name)) return isExecutable(name) ? name : null
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...EXTRA_DIRS, ...extraDirs]
  for (const dir of dirs) {
    if (!dir) continue
    const candidate = path.join(dir, name)
    if (isExecutable(candidate)) return candidate
  }
  return null
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** The binary's path, or an Error naming it and how to install it. */
export function requireBinary(name, extraDirs = []) {
  const found = findBinary(name, extraDirs)
  if (found === null) throw new Error(`${name} is not installed (not on PATH nor in /usr/sbin): run bench/peers/setup.sh`)
  return found
}

/** A fresh temp dir for one server run. */
export function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `skiff-bench-${prefix}-`))
}

/**
 * Spawn a server and wait until `ready()` resolves true.
 * @param {{ label: string, binary: string, args: string[], env?: object, cwd?: string, dir: string,
 *           processGroup?: boolean, ready: () => Promise<boolean>, readyTimeoutMs?: number,
 *           logFiles?: () => string[], companions?: import('node:child_process').ChildProcess[] }} opts
 *   processGroup: start it as the leader of its own process group and kill the whole group
 *     (RabbitMQ: beam.smp and erl_child_setup); companions: extra children (epmd) killed with it
 * @returns {Promise<{ pid: number, dir: string, logTail(): string[], stop(): Promise<void> }>}
 */
export async function startServerProcess(opts) {
  const { label, binary, args, dir } = opts
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000
  const child = spawn(binary, args, {
    cwd: opts.cwd ?? dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.processGroup === true,
  })
  const companions = opts.companions ?? []
  const tail = []
  const keep = (line) => {
    tail.push(line)
    if (tail.length > KEEP_LOG_LINES) tail.shift()
  }
  // Drained continuously so a chatty server never blocks on a full pipe.
  readline.createInterface({ input: child.stdout }).on('line', keep)
  readline.createInterface({ input: child.stderr }).on('line', keep)
  let spawnError = null
  child.once('error', (err) => {
    spawnError = err
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  let hasExited = false
  exited.then(() => {
    hasExited = true
  })

  // Descendants are collected before the kill: once the server is gone they
  // are reparented and can no longer be found from its pid. (RabbitMQ's
  // erl_child_setup starts its own session, out of the VM's process group.)
  let killed = []
  const killAll = () => {
    killed = child.pid === undefined ? [] : descendantsOf(child.pid)
    for (const c of companions) killQuietly(c.pid)
    if (opts.processGroup === true && child.pid !== undefined) killQuietly(-child.pid)
    killQuietly(child.pid)
    for (const pid of killed) killQuietly(pid)
  }
  const descendantsGone = async () => {
    const until = Date.now() + STOP_TIMEOUT_MS
    while (killed.some(isRunning) && Date.now() < until) await sleep(20)
  }
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true })
  const onExit = () => {
    killAll()
    removeDir()
  }
  live.add(onExit)

  const logTail = () => {
    const fromFiles = (opts.logFiles?.() ?? []).flatMap((f) => lastLines(f, KEEP_LOG_LINES))
    return [...tail, ...fromFiles].slice(-KEEP_LOG_LINES)
  }

  const deadline = Date.now() + readyTimeoutMs
  try {
    for (;;) {
      if (spawnError !== null) throw new Error(`${label} (${binary}) could not start: ${spawnError.message}`)
      if (hasExited) throw new Error(`${label} (${binary}) exited before accepting clients`)
      if (await opts.ready().catch(() => false)) break
      if (Date.now() > deadline) throw new Error(`${label} (${binary}) did not accept clients within ${readyTimeoutMs} ms`)
      await sleep(100)
    }
  } catch (err) {
    live.delete(onExit)
    const lines = logTail()
    killAll()
    await Promise.race([exited, sleep(STOP_TIMEOUT_MS)])
    removeDir()
    err.message += lines.length > 0 ? `; its last log lines:\n${lines.join('\n')}` : '; it logged nothing'
    throw err
  }

  let stopping
  return {
    pid: child.pid,
    dir,
    logTail,
    stop: () =>
      (stopping ??= (async () => {
        killAll()
        await Promise.race([exited, sleep(STOP_TIMEOUT_MS)])
        const companionsExited = Promise.all(companions.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))))
        await Promise.race([companionsExited, sleep(STOP_TIMEOUT_MS)])
        await descendantsGone()
        live.delete(onExit)
        removeDir()
      })()),
  }
}

/** Start a helper process (RabbitMQ's epmd) that the server's stop() kills too. */
export function spawnCompanion(binary, args, env) {
  const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: 'ignore' })
  child.once('error', () => {})
  return child
}

function killQuietly(pid) {
  if (pid === undefined) return
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

/** Every process below `pid`, from the parent pids in /proc (Linux; elsewhere none). */
export function descendantsOf(pid) {
  const children = new Map()
  let entries
  try {
    entries = fs.readdirSync('/proc')
  } catch {
    return []
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let stat
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue
    }
    // Fields after the command name (in parentheses, which may hold spaces): state, ppid, ...
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (!children.has(ppid)) children.set(ppid, [])
    children.get(ppid).push(Number(entry))
  }
  const found = []
  const stack = [pid]
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()) ?? []) {
      found.push(c)
      stack.push(c)
    }
  }
  return found
}

/** True while the pid exists and is not a zombie. */
export function isRunning(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

function lastLines(file, n) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n)
  } catch {
    return []
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * True once a TCP connection to 127.0.0.1:port succeeds and, when `expect` is
 * given, the first bytes the server sends (or answers to `send`) contain it.
 */
export function tcpProbe(port, { send, expect, timeoutMs = 1_000 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let got = ''
    const done = (ok) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('error', () => done(false))
    socket.once('connect', () => {
      if (expect === undefined) return done(true)
      if (send !== undefined) socket.write(send)
    })
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1')
      if (got.includes(expect)) done(true)
    })
  })
}
