/**
 * Runs the client commands of the `skiff` CLI in-process (yargs and our
 * commands, with captured stdout/stderr and a given environment), the way
 * the binary would, so tests see what a user sees.
 */
import yargs from 'yargs'
import { Readable, Writable } from 'node:stream'
import { registerClientCommands, type CliIO } from '../../cli/client-commands.js'

/** What a command printed and its exit code. */
export interface Run {
  code: number
  out: string
  err: string
}

function sink(onChunk: (s: string) => void): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      onChunk(String(chunk))
      cb()
    },
  })
}

/** Run `skiff <args>`; `url` becomes SKIFF_URL, `env` the whole environment. */
export async function skiff(args: string[], opts: { url?: string; stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const run: Run = { code: 0, out: '', err: '' }
  const io: CliIO = {
    stdout: sink((s) => (run.out += s)),
    stderr: sink((s) => (run.err += s)),
    stdin: Readable.from([opts.stdin ?? '']),
    env: { ...(opts.url ? { SKIFF_URL: opts.url } : {}), ...opts.env },
    args,
    setExitCode: (c) => (run.code = c),
    onInterrupt: () => () => {},
  }
  const cli = registerClientCommands(yargs().scriptName('skiff'), io)
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      // Like the binary: a command's own one-line usage error is the only line.
      if (run.err === '') run.err += `${msg ?? err?.message}\n`
      run.code = 1
    })
  await cli.parseAsync(args)
  return run
}

export const lines = (s: string) => s.split('\n').filter((l) => l !== '')
