/** Run an example's run.mjs as a child process (it needs the built dist/, as `npm test` makes: the broker and the `skiffmq` its parts import). */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export interface ExampleRun {
  code: number | null
  output: string
}

/** Its exit code and everything it printed; killed after `ms` (the example's own deadline is shorter). */
export function runExample(name: string, ms = 90_000): Promise<ExampleRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'examples', name, 'run.mjs')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), ms)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}
