/**
 * `skiff sub <topic> [--group G]`: consume as a member of group G and print one
 * line per message, acking each once it is printed. Without --group the
 * subscription is ephemeral (like `nats sub` or `kcat -C`): a group of its
 * own that the broker never saves and removes when it ends, so peeking at a
 * topic leaves no group behind.
 *
 * A topic that does not exist is an error (`--create` subscribes anyway,
 * letting the broker create it), so a typo does not create a topic and wait
 * on it forever. The check is a TOPIC_DESCRIBE before subscribing: the
 * broker's auto-creation for other clients is unchanged. A dead-letter topic
 * whose origin exists counts as existing (the broker makes it on demand). Runs until --count
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
import type { Client, Message, StartFrom } from '../../clients/index.js'
import { DLQ_SUFFIX, isDeadLetterTopic, isSkiffError } from '../../protocol/index.js'
import { CliFailure, clientCommand, reportReconnects, writeOut, type CliIO, type ClientArgs } from './client-common.js'

interface SubArgs extends ClientArgs {
  topic: string
  group?: string | undefined
  from: string
  create: boolean
  count?: number | undefined
  maxInFlight: number
}

export function subCommand(io: CliIO): CommandModule<object, SubArgs> {
  return clientCommand<SubArgs>(io, 'sub', {
    command: 'sub <topic>',
    describe: 'consume messages, printing one line each (a JSON object each with --json); with --group as a member of that group, else ephemerally',
    options: (y) =>
      y
        .positional('topic', { type: 'string', demandOption: true, describe: 'topic to consume' })
        .option('group', { alias: 'g', type: 'string', describe: 'consumer group (kept by the broker); without it the subscription is ephemeral and leaves no group behind' })
        .option('from', { type: 'string', default: 'latest', describe: 'where a new group starts: earliest, latest, an offset, or an ISO time' })
        .option('create', { type: 'boolean', default: false, describe: 'subscribe even when the topic does not exist (the broker creates it)' })
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
  if (!argv.create) await requireTopic(client, argv.topic)
  reportReconnects(io, 'sub', client)
  const consumer = await client.subscribe(argv.topic, { ...(argv.group !== undefined && { group: argv.group }), from, maxInFlight: argv.maxInFlight })
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

/** Refuse a topic that does not exist (see the header); other failures (FORBIDDEN, ...) as they come. */
async function requireTopic(client: Client, topic: string): Promise<void> {
  const exists = (name: string) =>
    client.admin.describeTopic(name).then(
      () => true,
      (err: unknown) => {
        if (isSkiffError(err, 'UNKNOWN_TOPIC')) return false
        throw err
      },
    )
  if (await exists(topic)) return
  if (isDeadLetterTopic(topic) && (await exists(topic.slice(0, -DLQ_SUFFIX.length)))) return
  throw new CliFailure(`topic ${JSON.stringify(topic)} does not exist; add --create to create it`)
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
