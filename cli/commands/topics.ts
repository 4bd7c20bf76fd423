/**
 * `skiff topics list|create|describe|delete`, `topics purge <topic> [--yes]`
 * and `topics alter <topic> [--retention 7d] [--retention-bytes 1GiB] [--partitions N]`.
 */
import readline from 'node:readline'
import type { Argv, CommandModule } from 'yargs'
import type { AlterTopicOptions, PartitionInfo, TopicDescription } from '../../clients/index.js'
import { CliFailure, clientCommand, commandGroup, printJson, table, type CliIO, type ClientArgs } from './client-common.js'
import { formatBytes, formatDuration, parseBytes, parseDuration } from './units.js'

interface TopicArgs extends ClientArgs {
  topic: string
  partitions?: number | undefined
  retentionMs?: number | undefined
  retentionBytes?: number | undefined
  segmentBytes?: number | undefined
  replicationFactor?: number | undefined
  minInSync?: number | undefined
  yes?: boolean | undefined
  retention?: string | undefined
}

export function topicsCommand(io: CliIO): CommandModule {
  const list = clientCommand<ClientArgs>(io, 'topics list', {
    command: 'list',
    describe: 'list topics',
    run: async (client, argv) => {
      const topics = await client.admin.listTopics()
      if (argv.json) return printJson(io, topics)
      if (topics.length === 0) return void io.stdout.write('no topics\n')
      io.stdout.write(table([['TOPIC', 'PARTITIONS'], ...topics.map((t) => [t.topic, t.partitions])]))
    },
  })
  const create = clientCommand<TopicArgs>(io, 'topics create', {
    command: 'create <topic>',
    describe: 'create a topic',
    options: (b) =>
      b
        .positional('topic', { type: 'string', demandOption: true })
        .option('partitions', { alias: 'p', type: 'number', describe: 'partition count (fixed at creation)' })
        .option('retention-ms', { type: 'number', describe: 'delete segments older than this (0 = forever)' })
        .option('retention-bytes', { type: 'number', describe: 'keep about this many bytes per partition (0 = all)' })
        .option('segment-bytes', { type: 'number', describe: 'segment file size' })
        .option('replication-factor', { type: 'number', describe: 'copies of each partition, on distinct brokers (cluster default: 3, or the live brokers when fewer; a single broker: 1)' })
        .option('min-in-sync', { type: 'number', describe: 'copies that must hold a publish before it is confirmed (default: 2, or 1 with one copy)' }) as unknown as Argv<TopicArgs>,
    run: async (client, argv) => {
      for (const [flag, v] of [['--replication-factor', argv.replicationFactor], ['--min-in-sync', argv.minInSync]] as const) {
        if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new CliFailure(`${flag} must be a positive integer, got ${v}`)
      }
      const d = await client.admin.createTopic(argv.topic, {
        ...(argv.replicationFactor !== undefined && { replicationFactor: argv.replicationFactor }),
        ...(argv.minInSync !== undefined && { minInSync: argv.minInSync }),
        ...(argv.partitions !== undefined && { partitions: argv.partitions }),
        ...(argv.retentionMs !== undefined && { retentionMs: argv.retentionMs }),
        ...(argv.retentionBytes !== undefined && { retentionBytes: argv.retentionBytes }),
        ...(argv.segmentBytes !== undefined && { segmentBytes: argv.segmentBytes }),
      })
      if (argv.json) return printJson(io, d)
      const copies = d.replicationFactor !== undefined && d.replicationFactor > 1 ? `, ${d.replicationFactor} copies each (${d.minInSync} in sync to confirm)` : ''
      io.stdout.write(`created topic ${d.topic} with ${d.partitions} partition${d.partitions === 1 ? '' : 's'}${copies}\n`)
    },
  })
  const describe = clientCommand<TopicArgs>(io, 'topics describe', {
    command: 'describe <topic>',
    describe: 'show a topic: settings, and offsets, size and corrupt ranges per partition (in a cluster also its leader, replicas and in-sync replicas)',
    options: (b) => b.positional('topic', { type: 'string', demandOption: true }) as unknown as Argv<TopicArgs>,
    run: async (client, argv) => {
      const d = await client.admin.describeTopic(argv.topic)
      if (argv.json) return printJson(io, d)
      io.stdout.write(describeText(d))
    },
  })
  const remove = clientCommand<TopicArgs>(io, 'topics delete', {
    command: 'delete <topic>',
    describe: 'delete a topic and all its messages',
    options: (b) => b.positional('topic', { type: 'string', demandOption: true }) as unknown as Argv<TopicArgs>,
    run: async (client, argv) => {
      await client.admin.deleteTopic(argv.topic)
      if (argv.json) return printJson(io, { topic: argv.topic, deleted: true })
      io.stdout.write(`deleted topic ${argv.topic}\n`)
    },
  })
  const purge = clientCommand<TopicArgs>(io, 'topics purge', {
    command: 'purge <topic>',
    describe: 'drop every message of a topic (offsets go on from where they were); asks first unless --yes',
    options: (b) =>
      b
        .positional('topic', { type: 'string', demandOption: true })
        .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'do not ask (required when stdin is not a terminal)' }) as unknown as Argv<TopicArgs>,
    run: async (client, argv) => {
      if (argv.yes !== true) await confirm(io, `drop every message of topic ${argv.topic}? [y/N] `, `skiff topics purge ${argv.topic} --yes`)
      const r = await client.admin.purgeTopic(argv.topic)
      if (argv.json) return printJson(io, r)
      const n = r.partitions.reduce((sum, p) => sum + p.purged, 0)
      io.stdout.write(`purged ${n} message${n === 1 ? '' : 's'} from ${r.topic}\n` + r.partitions.map((p) => `  partition ${p.partition}: now starts at offset ${p.startOffset}\n`).join(''))
    },
  })
  const alter = clientCommand<TopicArgs>(io, 'topics alter', {
    command: 'alter <topic>',
    describe: "change a topic's retention or add partitions",
    options: (b) =>
      b
        .positional('topic', { type: 'string', demandOption: true })
        .option('retention', { type: 'string', describe: 'delete segments older than this: 7d, 12h, 30m, 500ms... (forever or 0: keep)' })
        .option('retention-bytes', { type: 'string', describe: 'keep about this much per partition: 1GiB, 500MB... (unlimited or 0: keep all)' })
        .option('partitions', { alias: 'p', type: 'number', describe: 'new partition count: only more than now (the .dlq topic grows too)' }) as unknown as Argv<TopicArgs>,
    run: async (client, argv) => {
      const opts: AlterTopicOptions = {}
      if (argv.retention !== undefined) opts.retentionMs = parseDuration('--retention', argv.retention)
      const bytes = argv.retentionBytes as unknown as string | undefined
      if (bytes !== undefined) opts.retentionBytes = parseBytes('--retention-bytes', String(bytes))
      if (argv.partitions !== undefined) {
        if (!Number.isInteger(argv.partitions) || argv.partitions < 1) throw new CliFailure(`--partitions must be a positive integer, got ${argv.partitions}`)
        opts.partitions = argv.partitions
      }
      if (Object.keys(opts).length === 0) throw new CliFailure('name something to change: --retention, --retention-bytes or --partitions')
      const before = await client.admin.describeTopic(argv.topic)
      const d = await client.admin.alterTopic(argv.topic, opts)
      if (argv.json) return printJson(io, d)
      const changes: string[] = []
      if (d.partitions !== before.partitions) changes.push(`partitions ${before.partitions} -> ${d.partitions}`)
      if (d.retentionMs !== before.retentionMs) changes.push(`retention ${forever(before.retentionMs, 'ms')} -> ${forever(d.retentionMs, 'ms')}`)
      if (d.retentionBytes !== before.retentionBytes) changes.push(`retention size ${forever(before.retentionBytes, 'bytes')} -> ${forever(d.retentionBytes, 'bytes')}`)
      io.stdout.write(`altered topic ${d.topic}: ${changes.length > 0 ? changes.join(', ') : 'nothing changed'}\n`)
    },
  })
  return commandGroup(io, 'topics', 'list, create, describe, delete, purge and alter topics', [list, create, describe, remove, purge, alter], 'name a topics command: list, create, describe, delete, purge or alter')
}

/**
 * Ask on the terminal; anything but y/yes stops the command. Without a
 * terminal nobody can answer, so the command needs --yes (as `apt-get -y`).
 */
async function confirm(io: CliIO, question: string, withYes: string): Promise<void> {
  if ((io.stdin as { isTTY?: boolean }).isTTY !== true) throw new CliFailure(`stdin is not a terminal, so nobody can confirm: run ${withYes}`)
  const rl = readline.createInterface({ input: io.stdin, output: io.stderr })
  try {
    const answer = await new Promise<string>((resolve) => rl.question(question, resolve))
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliFailure('not confirmed: nothing was purged')
  } finally {
    rl.close()
  }
}

/** Retention as people read it; 0 or absent is no limit. (`--json` prints the exact numbers.) */
const forever = (n: number | undefined, unit: 'ms' | 'bytes') => (!n ? 'forever' : unit === 'ms' ? formatDuration(n) : formatBytes(n))

export function describeText(d: TopicDescription): string {
  const head =
    `topic ${d.topic}\n` +
    `  partitions       ${d.partitions}\n` +
    `  retention        ${forever(d.retentionMs, 'ms')}, ${!d.retentionBytes ? 'no byte limit' : `${formatBytes(d.retentionBytes)} per partition`}\n` +
    `  segment size     ${formatBytes(d.segmentBytes)}\n` +
    (d.replicationFactor === undefined ? '' : `  replication      ${d.replicationFactor} cop${d.replicationFactor === 1 ? 'y' : 'ies'} per partition, ${d.minInSync ?? '?'} in sync to confirm a publish\n`)
  const info = d.partitionInfo ?? []
  let text = head + '\n' + (d.placement ? clusterTable(d) : table([['PARTITION', 'START', 'END', 'MESSAGES', 'SIZE', 'SEGMENTS', 'CORRUPT'], ...info.map(offsetCells)]))
  for (const p of info) {
    for (const c of p.corrupt ?? []) {
      text += `  partition ${p.partition}: corrupt batch at position ${c.position} (offsets ${c.fromOffset}-${c.toOffset}): ${c.reason}\n`
    }
  }
  return text
}

function offsetCells(p: PartitionInfo): (string | number)[] {
  return [p.partition, p.startOffset, p.endOffset, p.endOffset - p.startOffset, formatBytes(p.bytes), p.segments, p.corrupt?.length ?? 0]
}

/**
 * In a cluster: a line per partition with where it lives; the offsets and
 * sizes are known for the partitions the answering broker leads, the others
 * show '-' (ask their leader, or use `skiff cluster status`).
 */
function clusterTable(d: TopicDescription): string {
  const info = new Map((d.partitionInfo ?? []).map((p) => [p.partition, p]))
  const ids = (list: number[]) => list.join(',')
  const rows = (d.placement ?? []).map((p) => {
    const i = info.get(p.partition)
    return [p.partition, p.leader, ids(p.replicas), ids(p.isr), ...(i ? offsetCells(i).slice(1) : ['-', '-', '-', '-', '-', '-'])]
  })
  return table([['PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'START', 'END', 'MESSAGES', 'SIZE', 'SEGMENTS', 'CORRUPT'], ...rows])
}
