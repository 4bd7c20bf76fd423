/**
 * What every client command shares: the --url/--token/--json options, the
 * connect-run-close wrapper that turns any failure into one clear line on
 * stderr and a non-zero exit, and plain-text tables.
 *
 * Commands write through a `CliIO` instead of `process` so tests can run them
 * in-process and read what they printed.
 */
import type { Argv } from 'yargs'
import { connect, type Client } from '../../../clients/index.js'
import { DEFAULT_URL } from '../../../clients/url.js'
import { SkiffError } from '../../../protocol/index.js'

export interface CliIO {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  stdin: NodeJS.ReadableStream
  env: NodeJS.ProcessEnv
  setExitCode(code: number): void
  /** Call `fn` on SIGINT/SIGTERM until the returned function is called. */
  onInterrupt(fn: () => void): () => void
}

export const processIO: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
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
  json?: boolean | undefined
  timeout?: number | undefined
}

export function withClientOptions<T>(y: Argv<T>): Argv<T & ClientArgs> {
  return y
    .option('url', { type: 'string', describe: `broker URL (env SKIFF_URL, default ${DEFAULT_URL})` })
    .option('token', { type: 'string', describe: 'credentials (env SKIFF_TOKEN)' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of text' })
    .option('timeout', { type: 'number', default: 10_000, describe: 'ms to wait for the broker to connect or answer' }) as Argv<T & ClientArgs>
}

/** Connect, run `fn`, close; failures become "skiff <command>: <problem>" on stderr and exit code 1. */
export async function runWithClient(io: CliIO, command: string, args: ClientArgs, fn: (client: Client) => Promise<void>): Promise<void> {
  const url = args.url ?? io.env.SKIFF_URL ?? DEFAULT_URL
  let client: Client | undefined
  try {
    client = await connect(url, {
      name: `skiff-cli ${command}`,
      token: args.token ?? io.env.SKIFF_TOKEN,
      connectTimeoutMs: args.timeout,
      requestTimeoutMs: args.timeout,
    }).catch((err: unknown) => {
      throw new CliFailure(`cannot connect to ${url}: ${describeError(err)}`)
    })
    await fn(client)
  } catch (err) {
    io.stderr.write(`skiff ${command}: ${err instanceof CliFailure ? err.message : describeError(err)}\n`)
    io.setExitCode(1)
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
