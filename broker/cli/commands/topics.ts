/** `skiff topics list|create|describe|delete`. */
import type { Argv, CommandModule } from 'yargs'
import type { TopicDescription } from '../../../clients/index.js'
import { clientCommand, commandGroup, printJson, table, type CliIO, type ClientArgs } from './client-common.js'

interface TopicArgs extends ClientArgs {
  topic: string
  partitions?: number | undefined
  retentionMs?: number | undefined
  retentionBytes?: number | undefined
  segmentBytes?: number | undefined
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
        .option('segment-bytes', { type: 'number', describe: 'segment file size' }) as unknown as Argv<TopicArgs>,
    run: async (client, argv) => {
      const d = await client.admin.createTopic(argv.topic, {
        ...(argv.partitions !== undefined && { partitions: argv.partitions }),
        ...(argv.retentionMs !== undefined && { retentionMs: argv.retentionMs }),
        ...(argv.retentionBytes !== undefined && { retentionBytes: argv.retentionBytes }),
        ...(argv.segmentBytes !== undefined && { segmentBytes: argv.segmentBytes }),
      })
      if (argv.json) return printJson(io, d)
      io.stdout.write(`created topic ${d.topic} with ${d.partitions} partition${d.partitions === 1 ? '' : 's'}\n`)
    },
  })
  const describe = clientCommand<TopicArgs>(io, 'topics describe', {
    command: 'describe <topic>',
    describe: 'show a topic: settings, and offsets, size and corrupt ranges per partition',
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
  return commandGroup(io, 'topics', 'list, create, describe and delete topics', [list, create, describe, remove], 'name a topics command: list, create, describe or delete')
}

const forever = (n: number | undefined, unit: string) => (!n ? 'forever' : `${n} ${unit}`)

export function describeText(d: TopicDescription): string {
  const head =
    `topic ${d.topic}\n` +
    `  partitions       ${d.partitions}\n` +
    `  retention        ${forever(d.retentionMs, 'ms')}, ${!d.retentionBytes ? 'no byte limit' : `${d.retentionBytes} bytes per partition`}\n` +
    `  segment size     ${d.segmentBytes} bytes\n`
  const info = d.partitionInfo ?? []
  const rows = info.map((p) => [p.partition, p.startOffset, p.endOffset, p.endOffset - p.startOffset, p.bytes, p.segments, p.corrupt?.length ?? 0])
  let text = head + '\n' + table([['PARTITION', 'START', 'END', 'MESSAGES', 'BYTES', 'SEGMENTS', 'CORRUPT'], ...rows])
  for (const p of info) {
    for (const c of p.corrupt ?? []) {
      text += `  partition ${p.partition}: corrupt batch at position ${c.position} (offsets ${c.fromOffset}-${c.toOffset}): ${c.reason}\n`
    }
  }
  return text
}
