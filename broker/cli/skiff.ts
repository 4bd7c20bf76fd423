#!/usr/bin/env node
/** The `skiff` command: the broker daemon and the client commands. */
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { registerBrokerCommand } from './broker-command.js'
import { registerClientCommands } from './client-commands.js'
import { registerBenchCommand } from './bench-command.js'
import { passwdCommand } from './passwd-command.js'
import { processIO } from './commands/client-common.js'
import { VERSION } from '../version.js'

let cli = yargs(hideBin(process.argv)).scriptName('skiff').version(VERSION)
cli = registerBrokerCommand(cli)
cli = registerClientCommands(cli)
cli = registerBenchCommand(cli)
cli = cli.command(passwdCommand(processIO))
await cli.demandCommand(1, 'name a command; see skiff --help').strict().help().alias('h', 'help').parseAsync()
