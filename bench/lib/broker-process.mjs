/**
 * The broker under test, in its own process: the built `skiff broker` on port
 * 0 with a fresh temp data dir, its port read from the JSON `listening` log
 * line. Its stdout (JSON logs) is drained continuously so a chatty broker never
 * blocks on a full pipe; the last lines are kept to explain a failure.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { SKIFF_BIN, brokerNodeFlags } from './paths.mjs'
import { sampleProcess } from './proc-stats.mjs'
import { atExit } from './at-exit.mjs'

const START_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 10_000
const KEEP_LOG_LINES = 40

/**
 * @param {{ workers?: number, fsync?: string, partitions?: number, extraArgs?: string[], execArgv?: string[], env?: object }} opts
 *   partitions: for topics the broker creates on first use (--default-partitions)
 * @returns {Promise<{ pid: number, port: number, httpPort?: number, url: string, sample(): object, logTail(): string[], stop(): Promise<void> }>}
 */
export async function startBrokerProcess(opts = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-'))
  const args = [...(await brokerNodeFlags()), ...(opts.execArgv ?? []), SKIFF_BIN, 'broker', '--port', '0', '--data-dir', dataDir, '--log-level', 'info']
  if (opts.workers !== undefined) args.push('--workers', String(opts.workers))
  if (opts.fsync !== undefined) args.push('--fsync', opts.fsync)
  if (opts.partitions !== undefined) args.push('--default-partitions', String(opts.partitions))
  args.push(...(opts.extraArgs ?? []))
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
  const tail = []
  const keep = (line) => {
    tail.push(line)
    if (tail.length > KEEP_LOG_LINES) tail.shift()
  }
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  readline.createInterface({ input: child.stderr }).on('line', keep)

  const cleanup = () => fs.rmSync(dataDir, { recursive: true, force: true })
  // An interrupted bench (Ctrl-C) leaves no broker or temp dir behind.
  const forget = atExit(() => {
    child.kill('SIGKILL')
    cleanup()
  })
  let port
  let httpPort
  let udpPort
  try {
    port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker did not log "listening" within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        keep(line)
        try {
          const o = JSON.parse(line)
          if (o.msg === 'listening' && Number.isInteger(o.port)) {
            clearTimeout(timer)
            httpPort = Number.isInteger(o.httpPort) ? o.httpPort : undefined
            udpPort = Number.isInteger(o.udpPort) ? o.udpPort : undefined
            resolve(o.port)
          }
        } catch {
          // not a JSON log line: kept in the tail, otherwise ignored
        }
      })
      exited.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(new Error(`broker exited before listening (code ${code}, signal ${signal})`))
      })
    })
  } catch (err) {
    forget()
    child.kill('SIGKILL')
    cleanup()
    err.message += '\n' + tail.join('\n')
    throw err
  }

  let stopping
  return {
    pid: child.pid,
    port,
    dataDir,
    url: `skiff://127.0.0.1:${port}`,
    /** The HTTP port for /metrics, when this build logs one. */
    httpPort,
    /** The UDP telemetry port, when the broker logs one. */
    udpPort,
    sample: () => sampleProcess(child.pid),
    logTail: () => [...tail],
    /** SIGTERM, then SIGKILL if the broker has not exited in time; the data dir is removed. */
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
          await exited
          clearTimeout(timer)
        }
        forget()
        cleanup()
      })()),
  }
}
