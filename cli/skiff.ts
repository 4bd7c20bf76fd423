#!/usr/bin/env node
/**
 * The `skiff` command: the broker daemon and the client commands.
 *
 * Failures are one line on stderr, "skiff <command>: <problem>", with a hint
 * where to look (`--help`) for usage errors, and a non-zero exit code; never
 * the whole help text, never a stack trace unless asked for with --debug or
 * SKIFF_DEBUG=1. A reader of our output that goes away is not a failure
 * (reader-gone.ts).
 *
 * A plain `skiff broker` line starts the broker without loading yargs, which
 * would stay in the daemon's memory for nothing (broker-args.ts); every other
 * line, and any broker line that is not plain, goes through yargs
 * (yargs-cli.ts). Each command's own code is loaded when it runs.
 *
 * The shebang is plain `env node`: busybox's env (Alpine) has no -S, so a
 * shebang with node flags would break every command there. The broker's heap
 * flag (broker/heap-settings.ts) is given by what starts a broker instead.
 */
import { parseBrokerArgs } from './broker-args.js'
import { processIO } from './commands/client-common.js'
import { exitQuietlyWhenReaderGoes } from './reader-gone.js'

exitQuietlyWhenReaderGoes()

const args = processIO.args ?? []
const brokerArgv = args[0] === 'broker' ? parseBrokerArgs(args.slice(1)) : undefined
if (brokerArgv) {
  const { runBroker } = await import('./broker-command.js')
  await runBroker(processIO, brokerArgv)
} else {
  const { runCli } = await import('./yargs-cli.js')
  await runCli(args)
}
