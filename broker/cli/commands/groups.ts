/** `skiff groups list [--topic]|describe <topic> <group>` (lag per partition). */
import type { Argv, CommandModule } from 'yargs'
import type { GroupDescription } from '../../../clients/index.js'
import { clientCommand, commandGroup, printJson, table, type CliIO, type ClientArgs } from './client-common.js'

interface GroupArgs extends ClientArgs {
  topic?: string | undefined
  group: string
}

export function groupsCommand(io: CliIO): CommandModule {
  const list = clientCommand<GroupArgs>(io, 'groups list', {
    command: 'list',
    describe: 'list consumer groups (of one topic with --topic)',
    options: (b) => b.option('topic', { type: 'string', describe: 'only groups of this topic' }) as unknown as Argv<GroupArgs>,
    run: async (client, argv) => {
      const groups = await client.admin.listGroups(argv.topic)
      if (argv.json) return printJson(io, groups)
      if (groups.length === 0) return void io.stdout.write(argv.topic ? `no groups on ${argv.topic}\n` : 'no groups\n')
      io.stdout.write(table([['TOPIC', 'GROUP'], ...groups.map((g) => [g.topic, g.group])]))
    },
  })
  const describe = clientCommand<GroupArgs>(io, 'groups describe', {
    command: 'describe <topic> <group>',
    describe: "show a group's position, lag and in-flight messages per partition",
    options: (b) => b.positional('topic', { type: 'string', demandOption: true }).positional('group', { type: 'string', demandOption: true }) as unknown as Argv<GroupArgs>,
    run: async (client, argv) => {
      const d = await client.admin.describeGroup(argv.topic!, argv.group)
      if (argv.json) return printJson(io, d)
      io.stdout.write(describeGroupText(d))
    },
  })
  return commandGroup(io, 'groups', 'list consumer groups and show their lag', [list, describe], 'name a groups command: list or describe')
}

export function describeGroupText(d: GroupDescription): string {
  const parts = d.partitions ?? []
  const lag = parts.reduce((sum, p) => sum + (p.lag ?? 0), 0)
  const rows = parts.map((p) => [p.partition, p.committed, p.next, p.endOffset, p.lag, p.inFlight])
  return (
    `group ${d.group} on ${d.topic}: ${d.members} member${d.members === 1 ? '' : 's'}, total lag ${lag}\n\n` +
    table([['PARTITION', 'COMMITTED', 'NEXT', 'END', 'LAG', 'IN-FLIGHT'], ...rows])
  )
}
