/**
 * `skiff pub <topic> [message]`: publish with confirm. With a message, it is
 * published --count times (default 1); without one, every non-empty line of
 * stdin is a message (at most --count lines when given). Prints where the
 * messages landed: a summary, or with --json one {topic, partition, offset}
 * line per message.
 */
import readline from 'node:readline'
import type { Argv, CommandModule } from 'yargs'
import type { Client, PublishResult, Producer } from '../../../clients/index.js'
import { CliFailure, clientCommand, printJson, reportReconnects, type CliIO, type ClientArgs } from './client-common.js'

interface PubArgs extends ClientArgs {
  topic: string
  message?: string | undefined
  key?: string | undefined
  header?: string[] | undefined
  count?: number | undefined
}

/** Publishes awaited together; keeps the CLI's memory bounded on endless stdin. */
const WINDOW = 1000

export function pubCommand(io: CliIO): CommandModule<object, PubArgs> {
  return clientCommand<PubArgs>(io, 'pub', {
    command: 'pub <topic> [message]',
    describe: 'publish a message (or each line of stdin) to a topic',
    options: (y) =>
      y
        .positional('topic', { type: 'string', demandOption: true, describe: 'topic to publish to' })
        .positional('message', { type: 'string', describe: 'the message; read lines from stdin when absent' })
        .option('key', { type: 'string', describe: 'message key (picks the partition)' })
        .option('header', { type: 'string', array: true, describe: 'header as name=value (repeatable)' })
        .option('count', { type: 'number', describe: 'publish the message this many times / read at most this many lines' }) as unknown as Argv<PubArgs>,
    run: (client, argv) => publish(io, client, argv),
  })
}

export function parseHeaders(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs || pairs.length === 0) return undefined
  const out: Record<string, string> = {}
  for (const p of pairs) {
    const eq = p.indexOf('=')
    if (eq <= 0) throw new CliFailure(`--header ${JSON.stringify(p)} must be name=value`)
    out[p.slice(0, eq)] = p.slice(eq + 1)
  }
  return out
}

async function publish(io: CliIO, client: Client, argv: PubArgs): Promise<void> {
  const headers = parseHeaders(argv.header)
  const count = argv.count
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new CliFailure(`--count must be a positive integer, got ${count}`)
  reportReconnects(io, 'pub', client)
  const producer = client.producer({ maxInFlight: WINDOW })
  const opts = { key: argv.key, headers }
  const results: PublishResult[] = []
  const record = (r: PublishResult[]) => {
    if (argv.json) for (const x of r) printJson(io, { topic: argv.topic, ...x })
    else results.push(...r)
  }
  let published = 0
  if (argv.message !== undefined) {
    for (let done = 0; done < (count ?? 1); done += WINDOW) {
      const n = Math.min(WINDOW, (count ?? 1) - done)
      record(await Promise.all(Array.from({ length: n }, () => producer.publish(argv.topic, argv.message, opts))))
      published += n
    }
  } else {
    published = await publishLines(io, producer, argv.topic, opts, count, record)
  }
  if (!argv.json) io.stdout.write(summary(argv.topic, published, results))
}

async function publishLines(
  io: CliIO,
  producer: Producer,
  topic: string,
  opts: { key?: string | undefined; headers?: Record<string, string> | undefined },
  count: number | undefined,
  record: (r: PublishResult[]) => void,
): Promise<number> {
  const lines = readline.createInterface({ input: io.stdin, crlfDelay: Infinity })
  let window: Promise<PublishResult>[] = []
  let published = 0
  try {
    for await (const line of lines) {
      if (line === '') continue
      window.push(producer.publish(topic, line, opts))
      published++
      if (window.length >= WINDOW) {
        record(await Promise.all(window))
        window = []
      }
      if (count !== undefined && published >= count) break
    }
  } finally {
    lines.close()
    // Stop reading: with --count the rest of stdin (say, an endless pipe) must not keep the process alive.
    const input = io.stdin as NodeJS.ReadableStream & { destroy?(): void }
    input.destroy?.()
  }
  record(await Promise.all(window))
  return published
}

function summary(topic: string, n: number, results: PublishResult[]): string {
  if (n === 0) return `nothing to publish to ${topic}\n`
  if (n === 1) return `published 1 message to ${topic} (partition ${results[0]!.partition}, offset ${results[0]!.offset})\n`
  const parts = new Map<number, { min: number; max: number }>()
  for (const r of results) {
    const p = parts.get(r.partition)
    if (!p) parts.set(r.partition, { min: r.offset, max: r.offset })
    else {
      p.min = Math.min(p.min, r.offset)
      p.max = Math.max(p.max, r.offset)
    }
  }
  const where = [...parts].sort((a, b) => a[0] - b[0]).map(([p, r]) => `partition ${p} offsets ${r.min}-${r.max}`)
  return `published ${n} messages to ${topic} (${where.join(', ')})\n`
}
