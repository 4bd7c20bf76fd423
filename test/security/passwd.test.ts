/**
 * `skiff passwd`: the token it prints logs in against an auth file holding
 * only the hash it prints.
 */
import t from 'tap'
import yargs from 'yargs'
import { Readable, Writable } from 'node:stream'
import { passwdCommand } from '../../cli/passwd-command.js'
import type { CliIO } from '../../cli/commands/client-common.js'
import { parseTokenHash, verifyToken } from '../../broker/auth/index.js'
import { authBroker, login, welcomed } from './helpers.js'

async function passwd(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const run = { code: 0, out: '', err: '' }
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        add(String(chunk))
        cb()
      },
    })
  const io: CliIO = {
    stdout: sink((s) => (run.out += s)),
    stderr: sink((s) => (run.err += s)),
    stdin: Readable.from([stdin]),
    env: {},
    setExitCode: (c) => (run.code = c),
    onInterrupt: () => () => {},
  }
  await yargs()
    .command(passwdCommand(io))
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      run.err += `${msg ?? err?.message}\n`
      run.code = 1
    })
    .parseAsync(['passwd', ...args])
  return run
}

t.test('a new token and its hash', async (t) => {
  const r = await passwd(['--cost', '10'])
  t.equal(r.code, 0)
  const token = /^token: (\S+)$/m.exec(r.out)?.[1]
  const hash = /^tokenHash: (\S+)$/m.exec(r.out)?.[1]
  t.ok(token && token.length >= 40, 'a long random token')
  t.match(hash, /^\$scrypt\$ln=10,r=8,p=1\$/)
  t.ok(await verifyToken(token!, parseTokenHash(hash)), 'the hash verifies the token')
  t.match(r.err, /only tokenHash goes in the auth file/)
  t.match(r.out, /clients send the user name with the token/, 'says the user name goes with the token')
  const again = await passwd(['--cost', '10'])
  t.not(/^token: (\S+)$/m.exec(again.out)?.[1], token, 'each run makes a new token')

  t.test('the broker accepts the token against the hash alone', async (t) => {
    const { broker } = await authBroker(t, [{ name: 'app', tokenHash: hash, publish: ['>'] }])
    t.ok(welcomed(await login(broker.port, token, { user: 'app' })), 'logged in, naming the user')
    t.notOk(welcomed(await login(broker.port, token)), 'a hashed token is refused without its user name')
    t.notOk(welcomed(await login(broker.port, token!.slice(1), { user: 'app' })), 'a different token is refused')
  })
})

t.test('--stdin --name --json', async (t) => {
  const r = await passwd(['--stdin', '--name', 'billing', '--json', '--cost', '10'], 'my-own-token-0123456789\n')
  t.equal(r.code, 0)
  const out = JSON.parse(r.out) as { user?: string; token?: string; tokenHash: string; entry: Record<string, unknown> }
  t.equal(out.token, undefined, 'a given token is not echoed')
  t.ok(await verifyToken('my-own-token-0123456789', parseTokenHash(out.tokenHash)))
  t.same(out.entry, { name: 'billing', tokenHash: out.tokenHash, publish: [], subscribe: [] })
  t.equal(out.user, 'billing', 'the user name clients send with the token')
})

t.test('refusals', async (t) => {
  t.match(await passwd(['--stdin'], 'short\n'), { code: 1, err: /a token must be 16-4096 characters/ })
  t.match(await passwd(['--cost', '40']), { code: 1, err: /--cost must be a whole number from 10 to 20/ })
})
