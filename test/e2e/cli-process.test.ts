/**
 * The CLI as users run it: the built `skiff` binary (run `npm run build`
 * first; `npm test` does) round-trips a message with `skiff pub` and
 * `skiff sub` and exits non-zero with one line on a failure; and --token /
 * SKIFF_TOKEN (with --user / SKIFF_USER for a hashed token) reach a broker
 * that checks them.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { skiff } from './cli-run.js'
import { startTestBroker } from './helpers.js'
import { hashToken } from '../../broker/auth/token-hash.js'

const bin = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))

interface Exit {
  code: number | null
  out: string
  err: string
}

function run(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Exit> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, SKIFF_URL: '', SKIFF_TOKEN: '', ...env }, timeout: 30_000 }, (err, out, errOut) => {
      resolve({ code: child.exitCode ?? (err ? 1 : 0), out: String(out), err: String(errOut) })
    })
    if (stdin !== undefined) child.stdin!.end(stdin)
  })
}

t.test('the skiff binary round-trips a message and fails with one line', async (t) => {
  const tb = await startTestBroker(t, 1)
  const env = { SKIFF_URL: tb.url }
  let r = await run(['pub', 'bin-orders', 'hello from the binary', '--key', 'k', '--header', 'trace=1'], env)
  t.same(r, { code: 0, out: 'published 1 message to bin-orders (partition 0, offset 0)\n', err: '' })
  r = await run(['pub', 'bin-orders'], env, 'from stdin\n')
  t.equal(r.code, 0, r.err)
  r = await run(['sub', 'bin-orders', '--group', 'g', '--from', 'earliest', '--count', '2'], env)
  t.same(r, { code: 0, out: 'hello from the binary\nfrom stdin\n', err: '' })
  r = await run(['sub', 'bin-orders', '--group', 'g2', '--from', 'earliest', '--count', '1', '--json'], env)
  t.match(JSON.parse(r.out), { topic: 'bin-orders', offset: 0, key: 'k', headers: { trace: '1' }, payload: 'hello from the binary' })

  r = await run(['topics', 'delete', 'bin-never'], env)
  t.equal(r.code, 1)
  t.match(r.err, /^skiff topics delete: [^\n]*\[UNKNOWN_TOPIC\]\n$/, 'one line')
  r = await run(['sub', 'bin-orders', '--to', 'x'], env)
  t.match({ code: r.code, err: r.err }, { code: 1, err: 'skiff sub: unknown option --to (see skiff sub --help)\n' }, 'usage errors are one line, naming the option')
  r = await run(['sub', 'bin-typo'], env)
  t.same({ code: r.code, err: r.err }, { code: 1, err: 'skiff sub: topic "bin-typo" does not exist; add --create to create it\n' })
  r = await run(['topics', 'list', '--timeout', '2000'], { SKIFF_URL: 'skiff://127.0.0.1:1' })
  t.equal(r.code, 1)
  t.match(r.err, /^skiff topics list: cannot connect to skiff:\/\/127\.0\.0\.1:1: [^\n]*\n$/)
})

t.test('--token and SKIFF_TOKEN reach the broker; a wrong one is one clear line', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-cli-auth-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const authFile = path.join(dir, 'users.json')
  const token = 'cli-test-token-0123456789'
  fs.writeFileSync(authFile, JSON.stringify({ users: [{ name: 'ops', token, publish: ['>'], subscribe: ['>'], admin: true }] }))
  const tb = await startTestBroker(t, 1, { authFile })
  const url = tb.url

  let r = await skiff(['topics', 'list'], { url })
  t.equal(r.code, 1)
  t.match(r.err, /^skiff topics list: cannot connect to .*\[UNAUTHORIZED\]\n$/, 'no token: refused, one line')
  r = await skiff(['topics', 'create', 'secured', '--token', token], { url })
  t.same(r, { code: 0, out: 'created topic secured with 1 partition\n', err: '' }, '--token')
  r = await skiff(['pub', 'secured', 'm'], { url, env: { SKIFF_TOKEN: token } })
  t.equal(r.code, 0, `SKIFF_TOKEN: ${r.err}`)
  r = await skiff(['sub', 'secured', '-g', 'g', '--from', 'earliest', '--count', '1'], { url, env: { SKIFF_TOKEN: token } })
  t.same(r, { code: 0, out: 'm\n', err: '' })
  r = await skiff(['groups', 'list', '--token', 'wrong-token-wrong-token'], { url, env: { SKIFF_TOKEN: token } })
  t.match(r, { code: 1, err: /\[UNAUTHORIZED\]\n$/ }, '--token wins over SKIFF_TOKEN')
})

t.test('--user and SKIFF_USER name the user of a hashed token', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-cli-auth-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const authFile = path.join(dir, 'users.json')
  const token = 'cli-hashed-token-0123456789'
  // A low scrypt cost keeps the test quick.
  fs.writeFileSync(authFile, JSON.stringify({ users: [{ name: 'ops', tokenHash: await hashToken(token, { ln: 10, r: 8, p: 1 }), admin: true }] }))
  const tb = await startTestBroker(t, 1, { authFile })
  const url = tb.url

  let r = await skiff(['topics', 'list', '--token', token], { url })
  t.match(r, { code: 1, err: /must also be named in HELLO.*--user or SKIFF_USER.*\[UNAUTHORIZED\]\n$/ }, 'without the user name: refused, saying how to name it')
  r = await skiff(['topics', 'create', 'hashed', '--user', 'ops', '--token', token], { url })
  t.same(r, { code: 0, out: 'created topic hashed with 1 partition\n', err: '' }, '--user')
  r = await skiff(['topics', 'list'], { url, env: { SKIFF_USER: 'ops', SKIFF_TOKEN: token } })
  t.equal(r.code, 0, `SKIFF_USER: ${r.err}`)
})
