/**
 * A broker in its own process (the built `skiff broker`), for tests that kill
 * it. The port comes from its `listening` log line.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import readline from 'node:readline'

const cli = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))

export interface BrokerProcess {
  child: ChildProcess
  port: number
  /** Every JSON log line seen so far. */
  lines: Record<string, unknown>[]
  exited: Promise<number | null>
}

/**
 * `prefix`: a command the broker runs under (e.g. strace and its options). `child` is then that
 * command, in a process group of its own with the broker, so `process.kill(-child.pid)` stops both.
 */
export async function spawnBroker(args: string[], timeoutMs = 20_000, prefix: string[] = []): Promise<BrokerProcess> {
  const [command, ...rest] = [...prefix, process.execPath, cli, 'broker', '--port', '0', ...args]
  const child = spawn(command!, rest, { stdio: ['ignore', 'pipe', 'pipe'], detached: prefix.length > 0 })
  const killAll = () => (prefix.length > 0 ? process.kill(-child.pid!, 'SIGKILL') : child.kill('SIGKILL'))
  const lines: Record<string, unknown>[] = []
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      killAll() // never leave a half-started broker behind a failed test
      reject(new Error(`broker did not log "listening" within ${timeoutMs} ms: ${stderr}`))
    }, timeoutMs)
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const obj = JSON.parse(line) as Record<string, unknown>
        lines.push(obj)
        if (obj.msg === 'listening') {
          clearTimeout(timer)
          resolve(obj.port as number)
        }
      } catch {
        // not a log line
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`broker exited with ${code} before listening: ${stderr}`))
    })
  })
  return { child, port, lines, exited }
}
