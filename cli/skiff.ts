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
 * The shebang is plain `env node`: busybox's env (Alpine) has no -S, so a
 * shebang with node flags would break every command there. The broker's heap
 * flag (broker/heap-settings.ts) is given by what starts a broker instead.
 */
import yargs, { type Argv } from 'yargs'
import { hideBin } from 'yargs/helpers'
import { registerBrokerCommand } from './broker-command.js'
import { registerClientCommands } from './client-commands.js'
import { registerBenchCommand } from './bench-command.js'
import { passwdCommand } from './passwd-command.js'
import { debugWanted, processIO, reportFailure, usageMessage, usageRefused } from './commands/client-common.js'
import { exitQuietlyWhenReaderGoes } from './reader-gone.js'
import { VERSION } from '../broker/version.js'

exitQuietlyWhenReaderGoes()

const args = hideBin(process.argv)
let cli: Argv = yargs(args)
  .scriptName('skiff')
  .version(VERSION)
  .option('debug', { type: 'boolean', global: true, describe: 'print the stack trace of a failure (env SKIFF_DEBUG=1)' })
cli = registerBrokerCommand(cli)
cli = registerClientCommands(cli)
cli = registerBenchCommand(cli)
cli = cli.command(passwdCommand(processIO))
await cli
  .demandCommand(1, 'name a command')
  .strict()
  .help()
  .alias('h', 'help')
  // Errors outside any command (no command, an unknown one), and any failure a command let escape.
  .fail((msg, err) => {
    if (usageRefused(processIO)) return
    if (msg) reportFailure(processIO, '', `${usageMessage(msg, args, 'unknown command')} (see skiff --help)`, undefined, false)
    else reportFailure(processIO, '', err?.message ?? String(err), err, debugWanted(processIO, { debug: args.includes('--debug') }))
  })
  .parseAsync()
