/**
 * `skiff passwd`: make a token and the scrypt hash the auth file stores in
 * its place (`tokenHash`), so the file on the broker's disk holds no usable
 * secret. The token goes to the client together with the user name
 * (SKIFF_USER and SKIFF_TOKEN, `connect(url, { user, token })`): the broker
 * checks a hashed token only against the user HELLO names, so a client that
 * sends the token without its user name is refused.
 *
 *   skiff passwd                    a new random token and its hash
 *   skiff passwd --stdin            the hash of a token read from stdin (first line)
 *   skiff passwd --name app         also a ready-to-paste auth file entry for user "app"
 *   skiff passwd --json             one JSON object: { token?, tokenHash, entry? }
 *
 * Decision: without --stdin the token is generated, never typed on the command
 * line, so it does not end up in shell history or `ps`.
 */
import type { Argv, CommandModule } from 'yargs'
import { debugWanted, reportFailure, usageErrors, type CliIO } from './commands/client-common.js'
import { DEFAULT_SCRYPT, generateToken, hashToken } from '../broker/auth/token-hash.js'
import { MIN_TOKEN_LENGTH, MAX_TOKEN_LENGTH } from '../broker/auth/auth-file.js'

interface PasswdArgs {
  stdin: boolean
  name?: string | undefined
  json: boolean
  cost: number
}

export function passwdCommand(io: CliIO): CommandModule<object, PasswdArgs> {
  const usage = usageErrors(io, 'passwd')
  return {
    command: 'passwd',
    describe: 'make a token and its scrypt hash for the auth file (tokenHash)',
    builder: (y: Argv) =>
      usage
        .on(y)
        .option('stdin', { type: 'boolean', default: false, describe: 'hash the token read from stdin instead of making a new one' })
        .option('name', { type: 'string', describe: 'also print an auth file entry for this user' })
        .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
        .option('cost', { type: 'number', default: DEFAULT_SCRYPT.ln, describe: 'scrypt cost as log2(N), 10-20' }) as unknown as Argv<PasswdArgs>,
    handler: usage.handler(async (argv: PasswdArgs) => {
      try {
        await run(io, argv)
      } catch (err) {
        reportFailure(io, 'passwd', (err as Error).message, err, debugWanted(io, argv))
      }
    }),
  }
}

async function run(io: CliIO, argv: PasswdArgs): Promise<void> {
  if (!Number.isInteger(argv.cost) || argv.cost < 10 || argv.cost > 20) throw new Error('--cost must be a whole number from 10 to 20')
  const given = argv.stdin ? firstLine(await readAll(io.stdin)) : undefined
  if (given !== undefined && (given.length < MIN_TOKEN_LENGTH || given.length > MAX_TOKEN_LENGTH)) {
    throw new Error(`a token must be ${MIN_TOKEN_LENGTH}-${MAX_TOKEN_LENGTH} characters (this one has ${given.length})`)
  }
  const token = given ?? generateToken()
  const tokenHash = await hashToken(token, { ...DEFAULT_SCRYPT, ln: argv.cost })
  const entry = argv.name !== undefined ? { name: argv.name, tokenHash, publish: [] as string[], subscribe: [] as string[] } : undefined
  if (argv.json) {
    io.stdout.write(JSON.stringify({ ...(argv.name !== undefined ? { user: argv.name } : {}), ...(given === undefined ? { token } : {}), tokenHash, ...(entry ? { entry } : {}) }) + '\n')
    return
  }
  if (given === undefined) io.stdout.write(`token: ${token}\n`)
  io.stdout.write(`tokenHash: ${tokenHash}\n`)
  if (entry) io.stdout.write(`auth file entry (fill in publish/subscribe patterns):\n  ${JSON.stringify(entry)}\n`)
  const user = argv.name ?? '<the entry\'s name>'
  io.stdout.write(`clients send the user name with the token (a hashed token is checked only for the user HELLO names):\n  SKIFF_USER=${user} SKIFF_TOKEN=<token>, or connect(url, { user: '${user}', token })\n`)
  if (given === undefined) io.stderr.write('give the token and the user name to the client; only tokenHash goes in the auth file\n')
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      text += chunk
      if (text.length > 65_536) reject(new Error('stdin holds more than a token'))
    })
    stream.on('end', () => resolve(text))
    stream.on('error', reject)
  })
}

function firstLine(text: string): string {
  return (text.split(/\r?\n/)[0] ?? '').trim()
}
