/**
 * Ports picked for test and bench servers are reserved across processes:
 * test files run in parallel, and one must not be handed a port another
 * picked for a broker it has not started yet, or is restarting.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { reserve } from '../../bench/lib/free-port.mjs'

const lib = fileURLToPath(new URL('../../bench/lib/free-port.mjs', import.meta.url))

/** A process that picks ports, prints them, and stays until told (stdin closes) or killed. */
async function holder(n: number) {
  const code = `import { freePorts } from ${JSON.stringify(lib)}
console.log(JSON.stringify(await freePorts(${n})))
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))`
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout! }).once('line', resolve))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return { child, exited, ports: JSON.parse(line) as number[] }
}

t.test('a port another live process picked is not handed out here; once it exits, it is', async (t) => {
  const h = await holder(3)
  t.teardown(() => h.child.kill('SIGKILL'))
  t.equal(new Set(h.ports).size, 3, 'three different ports')
  for (const p of h.ports) t.notOk(reserve(p), `port ${p} is held by the other process`)
  h.child.stdin!.end()
  await h.exited
  for (const p of h.ports) t.ok(reserve(p), `port ${p} is free once its holder exited`)
})

t.test('a port held by a process killed before it could clean up is taken over', async (t) => {
  const h = await holder(2)
  t.notOk(reserve(h.ports[0]!), 'held while it runs')
  h.child.kill('SIGKILL')
  await h.exited
  for (const p of h.ports) t.ok(reserve(p), `port ${p} is taken over`)
})
