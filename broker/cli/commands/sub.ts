/**
 * `skiff sub <topic> --group G`: consume as a member of group G and print one
 * line per message, acking each once it is printed. Runs until --count
 * messages were handled or until SIGINT/SIGTERM; when the broker goes away it
 * says so on stderr and carries on once the client has reconnected.
 *
 * A line is the payload, read by its content-type: text as is (as a JSON
 * string when it holds a line break, so one message stays one line), JSON and
 * MessagePack values as JSON, other bytes as base64, since stdout is text.
 * With --json a line is a JSON object with the topic, partition, offset,
 * timestamp, delivery count, key, headers and the payload (`payload`, or
 * `payloadBase64` for bytes).
 */
import type { Argv, CommandModule } from 'yargs'
import type { Client, Message, StartFrom } from '../../../clients/index.js'
import { CliFailure, clientCommand, reportReconnects, writeOut, type CliIO, type ClientArgs } from './client-common.js'

interface SubArgs extends ClientArgs {
  topic: string
  group: string
  from: string
  count?: number | undefined
  maxInFlight: number
}

export function subCommand(io: CliIO): CommandModule<object, SubArgs> {
  return clientCommand<SubArgs>(io, 'sub', {
    command: 'sub <topic>',
    describe: 'consume messages as a member of a group, printing one line each (a JSON object each with --json)',
    options: (y) =>
      y
        .positional('topic', { type: 'string', demandOption: true, describe: 'topic to consume' })
        .option('group', { alias: 'g', type: 'string', demandOption: true, describe: 'consumer group' })
        .option('from', { type: 'string', default: 'latest', describe: 'where a new group starts: earliest, latest, an offset, or an ISO time' })
        .option('count', { type: 'number', describe: 'exit after this many messages' })
        .option('max-in-flight', { type: 'number', default: 100, describe: 'unacked messages the broker may send ahead' }) as unknown as Argv<SubArgs>,
    run: (client, argv) => consume(io, client, argv),
  })
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
  const from = parseFrom(argv.from)
  reportReconnects(io, 'sub', client)
  const consumer = await client.subscribe(argv.topic, { group: argv.group, from, maxInFlight: argv.maxInFlight })
  const stopListening = io.onInterrupt(() => void consumer.close())
  try {
    let handled = 0
    for await (const msg of consumer) {
      await writeOut(io.stdout, (argv.json ? JSON.stringify(toJson(msg)) : toLine(msg)) + '\n')
      msg.ack()
      if (count !== undefined && ++handled >= count) break
    }
  } finally {
    stopListening()
  }
}

/** The payload as one line of text (see the header comment). */
export function toLine(msg: Message): string {
  const value = decoded(msg)
  if (Buffer.isBuffer(value)) return value.toString('base64')
  if (typeof value === 'string') return /[\r\n]/.test(value) ? JSON.stringify(value) : value
  return JSON.stringify(value)
}

/** The payload by its content-type; the bytes when they do not match it. */
function decoded(msg: Message): unknown {
  try {
    return msg.decode()
  } catch {
    return msg.payload
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
  const value = decoded(msg)
  if (Buffer.isBuffer(value)) out.payloadBase64 = value.toString('base64')
  else out.payload = value
  return out
}
