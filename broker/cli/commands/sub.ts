/**
 * `skiff sub <topic> --group G`: consume as a member of group G and print one
 * JSON line per message, acking each once it is printed. Runs until --count
 * messages were handled or until SIGINT/SIGTERM.
 *
 * The printed payload follows the message's content-type: text, JSON and
 * MessagePack are shown as values (`payload`); other bytes as base64
 * (`payloadBase64`), since stdout is text.
 */
import type { Argv, CommandModule } from 'yargs'
import type { Client, Message, StartFrom } from '../../../clients/index.js'
import { CliFailure, runWithClient, withClientOptions, writeOut, type CliIO, type ClientArgs } from './client-common.js'

interface SubArgs extends ClientArgs {
  topic: string
  group: string
  from: string
  count?: number | undefined
  maxInFlight: number
}

export function subCommand(io: CliIO): CommandModule<object, SubArgs> {
  return {
    command: 'sub <topic>',
    describe: 'consume messages as a member of a group, printing one JSON line each',
    builder: (y: Argv) =>
      withClientOptions(y)
        .positional('topic', { type: 'string', demandOption: true, describe: 'topic to consume' })
        .option('group', { alias: 'g', type: 'string', demandOption: true, describe: 'consumer group' })
        .option('from', { type: 'string', default: 'latest', describe: 'where a new group starts: earliest, latest, an offset, or an ISO time' })
        .option('count', { type: 'number', describe: 'exit after this many messages' })
        .option('max-in-flight', { type: 'number', default: 100, describe: 'unacked messages the broker may send ahead' }) as unknown as Argv<SubArgs>,
    handler: (argv) => runWithClient(io, 'sub', argv, (client) => consume(io, client, argv)),
  }
}

export function parseFrom(value: string): StartFrom {
  if (value === 'earliest' || value === 'latest') return value
  if (/^\d+$/.test(value)) return { offset: Number(value) }
  const ms = Date.parse(value)
  if (!Number.isNaN(ms) && /^\d{4}-\d{2}-\d{2}/.test(value)) return { timestamp: ms }
  throw new CliFailure(`--from ${JSON.stringify(value)} must be earliest, latest, an offset or an ISO date/time`)
}

async function consume(io: CliIO, client: Client, argv: SubArgs): Promise<void> {
  const count = argv.count
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new CliFailure(`--count must be a positive integer, got ${count}`)
  const consumer = await client.subscribe(argv.topic, { group: argv.group, from: parseFrom(argv.from), maxInFlight: argv.maxInFlight })
  const stopListening = io.onInterrupt(() => void consumer.close())
  try {
    let handled = 0
    for await (const msg of consumer) {
      await writeOut(io.stdout, JSON.stringify(toJson(msg)) + '\n')
      msg.ack()
      if (count !== undefined && ++handled >= count) break
    }
  } finally {
    stopListening()
  }
}

export function toJson(msg: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {
    topic: msg.topic,
    partition: msg.partition,
    offset: msg.offset,
    timestamp: new Date(msg.timestamp).toISOString(),
    deliveryCount: msg.deliveryCount,
  }
  if (msg.key !== undefined) out.key = msg.key
  if (Object.keys(msg.headers).length > 0) out.headers = msg.headers
  let value: unknown
  try {
    value = msg.decode()
  } catch {
    value = msg.payload // declared type does not match the bytes: show the bytes
  }
  if (Buffer.isBuffer(value)) out.payloadBase64 = value.toString('base64')
  else out.payload = value
  return out
}
