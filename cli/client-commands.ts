/**
 * The client side of the `skiff` CLI: pub, sub, topics, groups, cluster. Each command
 * lives in commands/; this file only registers them. `io` is the process by
 * default; tests pass their own to run commands in-process.
 */
import type { Argv } from 'yargs'
import { processIO, type CliIO } from './commands/client-common.js'
import { pubCommand } from './commands/pub.js'
import { subCommand } from './commands/sub.js'
import { topicsCommand } from './commands/topics.js'
import { groupsCommand } from './commands/groups.js'
import { clusterCommand } from './commands/cluster.js'

export type { CliIO } from './commands/client-common.js'

export function registerClientCommands(y: Argv, io: CliIO = processIO): Argv {
  return y
    .command(pubCommand(io))
    .command(subCommand(io))
    .command(topicsCommand(io))
    .command(groupsCommand(io))
    .command(clusterCommand(io))
}
