/**
 * Parent side of a role process (see roles/common.mjs for the conversation):
 * fork it, know when it is ready, follow its progress count, collect its
 * result. A role that dies without a result rejects `result` with its stderr.
 */
import { fork } from 'node:child_process'
import path from 'node:path'
import readline from 'node:readline'
import { BENCH_DIR } from './paths.mjs'

const READY_TIMEOUT_MS = 30_000

/**
 * @param {'producer'|'consumer'|'telemetry'|'observer'} role
 * @param {object} config  passed to the role as JSON
 * @param {{ execArgv?: string[] }} [opts]  e.g. --cpu-prof flags
 */
export function startRole(role, config, opts = {}) {
  const script = path.join(BENCH_DIR, 'roles', `${role}.mjs`)
  const child = fork(script, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], execArgv: opts.execArgv ?? [] })
  const stderr = []
  readline.createInterface({ input: child.stderr }).on('line', (l) => {
    stderr.push(l)
    if (stderr.length > 40) stderr.shift()
  })
  // warming: a consumer's count of warm-up messages; warm: a producer's warm-up, done ({ sent }).
  const handle = { role, pid: child.pid, progress: 0, warming: 0, finished: false }
  let readyResolve, readyReject, resultResolve, resultReject, warmResolve
  handle.warm = new Promise((res) => (warmResolve = res))
  handle.ready = new Promise((res, rej) => ((readyResolve = res), (readyReject = rej)))
  handle.result = new Promise((res, rej) => ((resultResolve = res), (resultReject = rej)))
  // Callers may await only one of the two; neither may become an unhandled rejection.
  handle.ready.catch(() => {})
  handle.result.catch(() => {})
  const readyTimer = setTimeout(() => readyReject(new Error(`${role} not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS)
  let result
  child.on('message', (msg) => {
    if (msg.t === 'ready') {
      clearTimeout(readyTimer)
      readyResolve()
    } else if (msg.t === 'progress') handle.progress = msg.n
    else if (msg.t === 'warming') handle.warming = msg.n
    else if (msg.t === 'warm') warmResolve(msg)
    else if (msg.t === 'result') result = msg
    else if (msg.t === 'error') result = { error: msg.message }
  })
  child.on('exit', (code, signal) => {
    clearTimeout(readyTimer)
    handle.finished = true
    const why = new Error(`${role} (pid ${child.pid}) exited with code ${code}${signal ? ` signal ${signal}` : ''}${result?.error ? ': ' + result.error : ''}\n${stderr.join('\n')}`)
    readyReject(why)
    if (result && !result.error) {
      if (typeof result.received === 'number') handle.progress = result.received
      else if (typeof result.sent === 'number') handle.progress = result.sent
      resultResolve(result)
    } else resultReject(why)
  })
  handle.send = (msg) => {
    if (child.connected) child.send(msg)
  }
  handle.kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  return handle
}
