/**
 * `skiff groups list [--topic]|describe <topic> <group>` (lag per partition),
 * `groups delete <topic> <group> [--force]` and
 * `groups reset <topic> <group> --to earliest|latest|offset:N|time:T [--partition p] [--force] [--dry-run]`.
 */
import type { Argv, CommandModule } from 'yargs'
import type { GroupDescription, GroupResetResult, ResetTo } from '../../clients/index.js'
import { CliFailure, clientCommand, commandGroup, printJson, table, type CliIO, type ClientArgs } from './client-common.js'

interface GroupArgs extends ClientArgs {
  topic?: string | undefined
  group: string
  force?: boolean | undefined
  to?: string | undefined
  partition?: number | undefined
  dryRun?: boolean | undefined
}

const topicAndGroup = (b: Argv<ClientArgs>) => b.positional('topic', { type: 'string', demandOption: true }).positional('group', { type: 'string', demandOption: true })

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
  const remove = clientCommand<GroupArgs>(io, 'groups delete', {
    command: 'delete <topic> <group>',
    describe: "delete a group's positions on every partition (refused while members are subscribed, unless --force)",
    options: (b) =>
      topicAndGroup(b).option('force', { type: 'boolean', default: false, describe: 'delete even while members are subscribed: their subscriptions end with an error' }) as unknown as Argv<GroupArgs>,
    run: async (client, argv) => {
      const r = await client.admin.deleteGroup(argv.topic!, argv.group, { force: argv.force === true })
      if (argv.json) return printJson(io, r)
      const ended = r.endedSubscriptions > 0 ? `; ${r.endedSubscriptions} subscription${r.endedSubscriptions === 1 ? '' : 's'} ended` : ''
      io.stdout.write(`deleted group ${r.group} of ${r.topic}${ended}\n`)
    },
  })
  const reset = clientCommand<GroupArgs>(io, 'groups reset', {
    command: 'reset <topic> <group>',
    describe: 'move a group to earliest, latest, an offset or a time (refused while members are subscribed, unless --force)',
    options: (b) =>
      topicAndGroup(b)
        .option('to', { type: 'string', demandOption: true, describe: 'earliest, latest, offset:N, or time:<ISO time or ms since the epoch>' })
        .option('partition', { type: 'number', describe: 'only this partition (default: all)' })
        .option('force', { type: 'boolean', default: false, describe: "reset even while members are subscribed: their in-flight messages are dropped" })
        .option('dry-run', { type: 'boolean', default: false, describe: 'only show where each partition would move' }) as unknown as Argv<GroupArgs>,
    run: async (client, argv) => {
      const to = parseResetTo(argv.to!)
      if (argv.partition !== undefined && (!Number.isInteger(argv.partition) || argv.partition < 0)) throw new CliFailure(`--partition must be a non-negative integer, got ${argv.partition}`)
      const r = await client.admin.resetGroup(argv.topic!, argv.group, to, {
        ...(argv.partition !== undefined && { partition: argv.partition }),
        force: argv.force === true,
        dryRun: argv.dryRun === true,
      })
      if (argv.json) return printJson(io, r)
      io.stdout.write(resetText(r))
    },
  })
  return commandGroup(io, 'groups', 'list, describe, delete and reset consumer groups', [list, describe, remove, reset], 'name a groups command: list, describe, delete or reset')
}

/** `--to` of groups reset: earliest, latest, offset:N, time:<ISO or ms>. */
export function parseResetTo(value: string): ResetTo {
  if (value === 'earliest' || value === 'latest') return value
  const offset = /^offset:(\d+)$/.exec(value)
  if (offset) return { offset: Number(offset[1]) }
  const time = /^time:(.+)$/.exec(value)
  if (time) {
    const t = time[1]!
    const ms = /^\d+$/.test(t) ? Number(t) : /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : NaN
    if (Number.isSafeInteger(ms)) return { timestamp: ms }
  }
  throw new CliFailure(`--to ${JSON.stringify(value)} must be earliest, latest, offset:N or time:<ISO time or ms since the epoch>`)
}

export function resetText(r: GroupResetResult): string {
  const head = r.dryRun ? `group ${r.group} on ${r.topic} would move (dry run, nothing changed):\n` : `reset group ${r.group} on ${r.topic}:\n`
  return head + r.partitions.map((p) => `  partition ${p.partition}: ${p.from} -> ${p.to}\n`).join('')
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
