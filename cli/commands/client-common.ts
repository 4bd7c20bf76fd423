/**
 * What every client command shares: the --url/--user/--token/--json options, the
 * connect-run-close wrapper that turns any failure into one clear line on
 * stderr and a non-zero exit, one-line usage errors, and plain-text tables.
 *
 * Commands write through a `CliIO` instead of `process` so tests can run them
 * in-process and read what they printed.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import type { Client } from '../../clients/index.js'
import { DEFAULT_URL } from '../../clients/url.js'
import { SkiffError } from '../../protocol/index.js'

export interface CliIO {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  stdin: NodeJS.ReadableStream
  env: NodeJS.ProcessEnv
  /** The command line as typed (no node, no script), to tell an unknown option from a stray argument. */
  args?: readonly string[]
  setExitCode(code: number): void
  /** Call `fn` on SIGINT/SIGTERM until the returned function is called. */
  onInterrupt(fn: () => void): () => void
}

export const processIO: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  // What follows `node skiff.js` (yargs' hideBin does the same for node; this module is loaded
  // by `skiff broker`, which does not load yargs).
  args: process.argv.slice(2),
  setExitCode: (code) => {
    process.exitCode = code
  },
  onInterrupt: (fn) => {
    // The first signal stops cleanly (acks flushed, group left); a second one exits at once.
    let signals = 0
    const handler = () => (++signals === 1 ? fn() : process.exit(130))
    process.on('SIGINT', handler)
    process.on('SIGTERM', handler)
    return () => {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    }
  },
}

export interface ClientArgs {
  url?: string | undefined
  token?: string | undefined
  user?: string | undefined
  json?: boolean | undefined
  timeout?: number | undefined
}

export function withClientOptions<T>(y: Argv<T>): Argv<T & ClientArgs> {
  return y
    .option('url', { type: 'string', describe: `broker URL (env SKIFF_URL, default ${DEFAULT_URL})` })
    .option('token', { type: 'string', describe: 'credentials (env SKIFF_TOKEN)' })
    .option('user', { type: 'string', describe: 'the auth-file user the token belongs to; needed for a hashed token (env SKIFF_USER)' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of text' })
    .option('timeout', { type: 'number', default: 10_000, describe: 'ms to wait for the broker to connect or answer' }) as Argv<T & ClientArgs>
}

/** The CLI runs one command per io; once its arguments were refused, no further usage error is printed. */
const refusedIO = new WeakSet<CliIO>()

/**
 * Usage errors of one command (a missing argument, an unknown option) as one
 * line on stderr and exit code 1, instead of the whole help text. yargs still
 * runs the handler after a custom fail function returns, so `handler()` wraps
 * it to do nothing once the arguments were refused.
 */
export function usageErrors(io: CliIO, name: string) {
  let refused = false
  return {
    on<T>(y: Argv<T>): Argv<T> {
      return y.fail((msg, err) => {
        refused = true
        // yargs goes on validating after a fail function returns, and a command
        // group's fail runs after its subcommand's: only the first one speaks.
        if (refusedIO.has(io)) return
        refusedIO.add(io)
        io.stderr.write(`skiff ${name}: ${usageMessage(msg ?? err?.message ?? 'invalid arguments', io.args)} (see skiff ${name} --help)\n`)
        io.setExitCode(1)
      })
    },
    handler<A>(fn: (argv: A) => Promise<void>): (argv: A) => Promise<void> {
      return async (argv) => {
        if (!refused) await fn(argv)
      }
    },
  }
}

/** The usage error of the CLI, if one was printed for this io (the root's fail handler then stays quiet). */
export function usageRefused(io: CliIO): boolean {
  return refusedIO.has(io)
}

/**
 * yargs' "Unknown argument: prot" as "unknown option --prot", spelled as it
 * was typed (`--prot`, `-x`, `--no-thing`); a stray word that is no option
 * is an "unexpected argument". Other messages pass through.
 */
export function usageMessage(msg: string, args: readonly string[] | undefined, stray = 'unexpected argument'): string {
  const m = /^Unknown arguments?: (.+)$/.exec(msg)
  if (!m) return msg
  const options: string[] = []
  const words: string[] = []
  // yargs names `--no-such-flag` twice, as such-flag and as suchFlag: both are typed as one.
  for (const typed of new Set(m[1]!.split(', ').map((name) => asTyped(name, args)))) {
    if (typed.startsWith('-')) options.push(typed)
    else words.push(typed)
  }
  const parts: string[] = []
  if (options.length > 0) parts.push(`unknown option${options.length > 1 ? 's' : ''} ${options.join(', ')}`)
  if (words.length > 0) parts.push(`${stray}${words.length > 1 ? 's' : ''} ${words.join(', ')}`)
  return parts.join('; ')
}

function asTyped(given: string, args: readonly string[] | undefined): string {
  const name = given.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
  if (!args) return name.length === 1 ? `-${name}` : `--${name}`
  for (const a of args) {
    if (a === '--') break
    const flag = a.split('=')[0]!
    if (flag === `--${name}` || flag === `--no-${name}` || flag === `--${given}`) return flag
    if (name.length === 1 && /^-[^-]/.test(a) && a.slice(1).includes(name)) return `-${name}`
  }
  return given
}

/** --debug or SKIFF_DEBUG=1: a failure's stack trace goes to stderr under its one line. */
export function debugWanted(io: CliIO, argv?: object): boolean {
  if ((argv as { debug?: unknown } | undefined)?.debug === true) return true
  const v = io.env.SKIFF_DEBUG
  return v !== undefined && v !== '' && v !== '0' && v !== 'false'
}

/** "skiff <command>: <problem>" on stderr, the stack under it when debugging, exit code 1. */
export function reportFailure(io: CliIO, command: string, line: string, err: unknown, debug: boolean): void {
  io.stderr.write(`skiff${command ? ` ${command}` : ''}: ${line}\n`)
  if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`)
  io.setExitCode(1)
}

/** What a client command is made of; clientCommand() adds the shared options, usage errors and the connect-run-close wrapper. */
export interface ClientCommandSpec<A extends ClientArgs> {
  /** yargs command string, e.g. 'describe <topic>'. */
  command: string
  describe: string
  /** Its own positionals and options (the shared ones are added already). */
  options?(y: Argv<ClientArgs>): Argv<A>
  run(client: Client, argv: A): Promise<void>
}

/** A client command named `name` in messages ("skiff <name>: ..."). */
export function clientCommand<A extends ClientArgs>(io: CliIO, name: string, spec: ClientCommandSpec<A>): CommandModule<object, A> {
  const usage = usageErrors(io, name)
  return {
    command: spec.command,
    describe: spec.describe,
    builder: (y: Argv) => {
      const shared = usage.on(withClientOptions(y)) as Argv<ClientArgs>
      return (spec.options ? spec.options(shared) : shared) as unknown as Argv<A>
    },
    handler: usage.handler((argv: ArgumentsCamelCase<A>) => runWithClient(io, name, argv, (client) => spec.run(client, argv as unknown as A))),
  }
}

/** A command that only groups subcommands (topics, groups): naming none is a one-line usage error. */
export function commandGroup(io: CliIO, name: string, describe: string, subcommands: CommandModule<object, any>[], demand: string): CommandModule {
  const usage = usageErrors(io, name)
  return {
    command: name,
    describe,
    builder: (y: Argv) => {
      let b = usage.on(y)
      for (const c of subcommands) b = b.command(c)
      return b.demandCommand(1, demand)
    },
    handler: () => {},
  }
}

/** For long-running commands: say on stderr when the connection drops and when it is back. */
export function reportReconnects(io: CliIO, command: string, client: Client): void {
  client.on('disconnect', (reason) => io.stderr.write(`skiff ${command}: connection lost (${reason.message}); reconnecting\n`))
  client.on('reconnect', (info) => io.stderr.write(`skiff ${command}: reconnected to ${info.url}\n`))
}

/** Connect, run `fn`, close; failures become "skiff <command>: <problem>" on stderr and exit code 1. */
export async function runWithClient(io: CliIO, command: string, args: ClientArgs, fn: (client: Client) => Promise<void>): Promise<void> {
  const url = args.url ?? io.env.SKIFF_URL ?? DEFAULT_URL
  let client: Client | undefined
  try {
    // The client library is loaded by the command that uses it, not by `skiff broker`, whose
    // process would hold it for nothing.
    const { connect } = await import('../../clients/index.js')
    client = await connect(url, {
      name: `skiff-cli ${command}`,
      token: args.token ?? io.env.SKIFF_TOKEN,
      user: args.user ?? io.env.SKIFF_USER,
      connectTimeoutMs: args.timeout,
      requestTimeoutMs: args.timeout,
    }).catch((err: unknown) => {
      throw new CliFailure(`cannot connect to ${url}: ${describeError(err)}`, { cause: err })
    })
    await fn(client)
  } catch (err) {
    const cause = err instanceof CliFailure && err.cause !== undefined ? err.cause : err
    reportFailure(io, command, err instanceof CliFailure ? err.message : describeError(err), cause, debugWanted(io, args))
  } finally {
    await client?.close().catch(() => {})
  }
}

/** A failure whose message is already complete (no code suffix needed). */
export class CliFailure extends Error {}

export function describeError(err: unknown): string {
  if (err instanceof SkiffError) {
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? ` (${err.cause.message})` : ''
    return `${err.message}${cause} [${err.codeName}]`
  }
  return err instanceof Error ? err.message : String(err)
}

/** Write and wait for 'drain' when the stream asks us to, so a slow pipe slows us down. */
export function writeOut(stream: NodeJS.WritableStream, text: string): Promise<void> | void {
  if (stream.write(text)) return
  return new Promise((resolve) => stream.once('drain', () => resolve()))
}

export function printJson(io: CliIO, value: unknown): void {
  io.stdout.write(JSON.stringify(value) + '\n')
}

/** Left-aligned columns, two spaces apart; the first row is the heading. */
export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String))
  const widths: number[] = []
  for (const r of cells) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)))
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n'
}
