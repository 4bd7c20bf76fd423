/**
 * How the built `skiff` binary fails, as a user sees it: one line on stderr
 * naming the problem (and the flag that fixes it), a non-zero exit code, no
 * help text and no stack trace unless --debug or SKIFF_DEBUG=1; and a reader
 * of its output that goes away (`| head -3`) is not a failure.
 */
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { spawnBroker, type BrokerProcess } from '../broker/broker-process.js'

const bin = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))

interface Exit {
  code: number | null
  out: string
  err: string
}

function run(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, SKIFF_URL: '', SKIFF_TOKEN: '', SKIFF_DEBUG: '', ...env }, timeout: 30_000 }, (_err, out, errOut) => {
      resolve({ code: child.exitCode, out: String(out), err: String(errOut) })
    })
  })
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-cli-errors-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function runningBroker(t: { teardown(fn: () => unknown): void }, dataDir: string): Promise<{ broker: BrokerProcess; httpPort: number }> {
  const broker = await spawnBroker(['--data-dir', dataDir, '--http-port', '0', '--no-udp'])
  t.teardown(async () => {
    if (broker.child.exitCode === null && broker.child.signalCode === null) {
      broker.child.kill('SIGTERM')
      await broker.exited
    }
  })
  return { broker, httpPort: broker.lines.find((l) => l.msg === 'listening')!.httpPort as number }
}

const oneLine = /^[^\n]+\n$/

t.test('skiff broker: a port in use is one line naming the port and the flag', async (t) => {
  const { broker, httpPort } = await runningBroker(t, tempDir(t))
  let r = await run(['broker', '--port', String(broker.port), '--http-port', '0', '--no-udp', '--data-dir', tempDir(t)])
  t.same(r, { code: 1, out: '', err: `skiff broker: port ${broker.port} is already in use (another broker? pass --port)\n` })

  r = await run(['broker', '--port', '0', '--http-port', String(httpPort), '--no-udp', '--data-dir', tempDir(t)])
  t.same(r, { code: 1, out: '', err: `skiff broker: HTTP port ${httpPort} is already in use (another broker? pass --http-port)\n` })

  r = await run(['broker', '--port', String(broker.port), '--http-port', '0', '--no-udp', '--data-dir', tempDir(t), '--debug'])
  t.equal(r.code, 1)
  t.match(r.err, new RegExp(`^skiff broker: port ${broker.port} is already in use[^\\n]*\\nError: listen EADDRINUSE[^]*\\n    at `), '--debug: the stack follows the line')
  r = await run(['broker', '--port', String(broker.port), '--http-port', '0', '--no-udp', '--data-dir', tempDir(t)], { SKIFF_DEBUG: '1' })
  t.match(r.err, /^skiff broker: [^\n]+\nError: listen EADDRINUSE/, 'SKIFF_DEBUG=1 too')
})

t.test('skiff broker: unknown options, bad values and a bad config file are one line', async (t) => {
  let r = await run(['broker', '--prot', '4222'])
  t.same(r, { code: 1, out: '', err: 'skiff broker: unknown option --prot (see skiff broker --help)\n' })
  r = await run(['broker', '-z'])
  t.same(r, { code: 1, out: '', err: 'skiff broker: unknown option -z (see skiff broker --help)\n' })
  r = await run(['broker', 'now'])
  t.same(r, { code: 1, out: '', err: 'skiff broker: unexpected argument now (see skiff broker --help)\n' })
  r = await run(['broker', '--port', 'abc'])
  t.same(r, { code: 2, out: '', err: 'skiff broker: --port must be a number, not "abc" (see skiff broker --help)\n' })
  r = await run(['broker', '--workers', '0'])
  t.same(r, { code: 2, out: '', err: 'skiff broker: workers must be 1-64, not 0 (see skiff broker --help)\n' })
  r = await run(['broker'], { SKIFF_FSYNC: 'sometimes' })
  t.same(r, { code: 2, out: '', err: 'skiff broker: fsync must be always, never or interval:<ms>, not "sometimes" (see skiff broker --help)\n' }, 'a bad SKIFF_* value')
  const file = path.join(tempDir(t), 'skiff.json')
  fs.writeFileSync(file, '{"port": 7600,')
  r = await run(['broker', '--config', file])
  t.equal(r.code, 2)
  t.match(r.err, new RegExp(`^skiff broker: config file ${file.replace(/[.]/g, '\\.')} is not valid JSON: [^\\n]+\\n$`))

  r = await run(['frob'])
  t.same(r, { code: 1, out: '', err: 'skiff: unknown command frob (see skiff --help)\n' })
  r = await run([])
  t.same(r, { code: 1, out: '', err: 'skiff: name a command (see skiff --help)\n' })
  r = await run(['passwd', '--bogus'])
  t.same(r, { code: 1, out: '', err: 'skiff passwd: unknown option --bogus (see skiff passwd --help)\n' })
  r = await run(['passwd', '--cost', '3'])
  t.same(r, { code: 1, out: '', err: 'skiff passwd: --cost must be a whole number from 10 to 20\n' })
})

// EACCES needs a user the kernel holds to permissions; as root the test runs the broker as nobody.
const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined

t.test('skiff broker: no permission for a port or the data directory', { skip: asUser === undefined && 'needs root to run the broker as an unprivileged user' }, async (t) => {
  const runAs = (args: string[]) =>
    new Promise<Exit>((resolve) => {
      // env -i: the test runner's hooks would otherwise follow the child and fail to write their files as nobody.
      const child = execFile('env', ['-i', `PATH=${process.env.PATH ?? ''}`, process.execPath, bin, ...args], { ...asUser, cwd: os.tmpdir(), timeout: 30_000 }, (_e, out, err) =>
        resolve({ code: child.exitCode, out: String(out), err: String(err) }),
      )
    })
  const free = tempDir(t)
  fs.chmodSync(free, 0o777)
  let r = await runAs(['broker', '--port', '80', '--http-port', '0', '--no-udp', '--data-dir', free])
  t.same(r, { code: 1, out: '', err: 'skiff broker: no permission to listen on port 80 (ports below 1024 need root or CAP_NET_BIND_SERVICE; pass --port)\n' })

  const rootOnly = tempDir(t) // mode 0700, owned by root
  r = await runAs(['broker', '--port', '0', '--no-udp', '--data-dir', rootOnly])
  t.same(r, { code: 1, out: '', err: `skiff broker: cannot use the data directory ${rootOnly}: permission denied (${rootOnly}); pass --data-dir, or give this user a directory it can write\n` })
  const below = path.join(rootOnly, 'data')
  r = await runAs(['broker', '--port', '0', '--no-udp', '--data-dir', below])
  t.same(r, { code: 1, out: '', err: `skiff broker: cannot use the data directory ${below}: permission denied (${below}); pass --data-dir, or give this user a directory it can write\n` })
})

t.test('a client command pointed at the HTTP port says so', async (t) => {
  const { httpPort } = await runningBroker(t, tempDir(t))
  const r = await run(['topics', 'list', '--url', `skiff://127.0.0.1:${httpPort}`])
  t.equal(r.code, 1)
  t.match(r.err, oneLine)
  t.match(r.err, `skiff://127.0.0.1:${httpPort} answered with HTTP: that is the broker's HTTP port (/metrics), not its protocol port (default 7600)`)
  t.notMatch(r.err, /1213486160/)
})

t.test('the reader going away ends the command quietly with exit code 0', async (t) => {
  const { broker } = await runningBroker(t, tempDir(t))
  // 20,000 JSON lines are far more than a pipe holds, so writes go on after the reader left.
  const child = spawn(process.execPath, [bin, 'pub', 'piped', 'x', '--count', '20000', '--json', '--url', `skiff://127.0.0.1:${broker.port}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const lines = readline.createInterface({ input: child.stdout })
  const first: string[] = []
  for await (const line of lines) {
    first.push(line)
    if (first.length === 3) break
  }
  child.stdout.destroy() // what `head -3` does once it has its lines
  t.same(first.map((l) => JSON.parse(l).topic), ['piped', 'piped', 'piped'])
  t.equal(await exited, 0, 'exit code 0')
  t.equal(err, '', 'nothing on stderr')
})

t.test('the broker stops cleanly when the reader of its logs goes away', async (t) => {
  const child = spawn(process.execPath, [bin, 'broker', '--port', '0', '--http-port', '0', '--no-udp', '--data-dir', tempDir(t)], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')))
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let port = 0
  for await (const line of readline.createInterface({ input: child.stdout })) {
    const entry = JSON.parse(line) as { msg: string; port?: number }
    if (entry.msg === 'listening') {
      port = entry.port!
      break
    }
  }
  child.stdout.destroy()
  // Something the broker logs: a connection it closes for sending garbage.
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.end(Buffer.from('not a frame, not at all'))
  // Bounded: a broker that ignores the closed pipe would run on.
  const within = new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000).unref())
  t.equal(await Promise.race([exited, within]), 0, 'exit code 0 after stopping as on SIGTERM')
  t.equal(err, '', 'nothing on stderr')
})
