/**
 * The `skiff` command line through yargs: every command, `--help`,
 * `--version` and every usage error (skiff.ts starts here unless it is a
 * plain `skiff broker` line).
 */
import yargs, { type Argv } from 'yargs'
import { registerBrokerCommand } from './broker-command.js'
import { registerClientCommands } from './client-commands.js'
import { registerBenchCommand } from './bench-command.js'
import { passwdCommand } from './passwd-command.js'
import { debugWanted, processIO, reportFailure, usageMessage, usageRefused } from './commands/client-common.js'
import { VERSION } from '../broker/version.js'

/** Parse `args` (the command line after `skiff`) and run the command it names. */
export async function runCli(args: readonly string[]): Promise<void> {
  let cli: Argv = yargs([...args])
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
}
