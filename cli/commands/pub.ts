/**
 * `skiff pub <topic> [message]`: publish with confirm. With a message, it is
 * published --count times (default 1); without one, every non-empty line of
 * stdin is a message (at most --count lines when given). Prints where the
 * messages landed: a summary (with their size, in human units, when there are
 * several), or with --json one {topic, partition, offset} line per message.
 *
 * The content-type header, which consumers' `decode()` (and `skiff sub`) read:
 * - `--content-type <type>` sets it for every message (`--header
 *   content-type=...` is the same; giving two different ones is an error).
 *   A JSON type (application/json, *+json) is checked: a message that does
 *   not parse is refused before it is sent.
 * - Otherwise each message is looked at. Decision: only a JSON object or
 *   array (text that starts with `{` or `[` and parses) goes as
 *   application/json; anything else, `42`, `true` and `"quoted"` included,
 *   goes as UTF-8 text as before, since a bare word or number typed on a
 *   command line is far more often meant as text.
 */
import readline from 'node:readline'
import type { Argv, CommandModule } from 'yargs'
import type { Client, PublishResult, Producer } from '../../clients/index.js'
import { CliFailure, clientCommand, printJson, reportReconnects, type CliIO, type ClientArgs } from './client-common.js'
import { formatBytes } from './units.js'

interface PubArgs extends ClientArgs {
  topic: string
  message?: string | undefined
  key?: string | undefined
  header?: string[] | undefined
  count?: number | undefined
  contentType?: string | undefined
}

const CONTENT_TYPE = 'content-type'
const JSON_TYPE = 'application/json'
const TEXT_TYPE = 'text/plain; charset=utf-8'

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
        .option('count', { type: 'number', describe: 'publish the message this many times / read at most this many lines' })
        .option('content-type', { type: 'string', describe: 'content-type header of every message (default: application/json for a JSON object or array, else text)' }) as unknown as Argv<PubArgs>,
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

/** The content-type every message gets, when one was given (--content-type or --header content-type=). */
export function givenContentType(contentType: string | undefined, headers: Record<string, string> | undefined): string | undefined {
  const fromHeader = headers?.[CONTENT_TYPE]
  if (contentType !== undefined) {
    if (!/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(contentType)) throw new CliFailure(`--content-type ${JSON.stringify(contentType)} must be a media type such as application/json or text/csv`)
    if (fromHeader !== undefined && fromHeader !== contentType) throw new CliFailure(`--content-type ${contentType} and --header content-type=${fromHeader} disagree; give one`)
    return contentType
  }
  return fromHeader
}

const isJsonType = (type: string) => {
  const media = type.split(';')[0]!.trim().toLowerCase()
  return media === JSON_TYPE || media.endsWith('+json')
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** The content-type of one message: the given one (a JSON type checked), else JSON for an object or array, else text. */
export function contentTypeOf(text: string, given: string | undefined): string {
  if (given !== undefined) {
    if (isJsonType(given) && !parsesAsJson(text)) throw new CliFailure(`the message ${preview(text)} is not JSON, but its content-type is ${given}`)
    return given
  }
  return /^\s*[[{]/.test(text) && parsesAsJson(text) ? JSON_TYPE : TEXT_TYPE
}

const preview = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)

async function publish(io: CliIO, client: Client, argv: PubArgs): Promise<void> {
  const headers = parseHeaders(argv.header)
  const count = argv.count
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new CliFailure(`--count must be a positive integer, got ${count}`)
  const given = givenContentType(argv.contentType, headers)
  const optsFor = (text: string) => ({ key: argv.key, headers: { ...headers, [CONTENT_TYPE]: contentTypeOf(text, given) } })
  reportReconnects(io, 'pub', client)
  const producer = client.producer({ maxInFlight: WINDOW })
  const results: PublishResult[] = []
  const record = (r: PublishResult[]) => {
    if (argv.json) for (const x of r) printJson(io, { topic: argv.topic, ...x })
    else results.push(...r)
  }
  let published = 0
  let bytes = 0
  if (argv.message !== undefined) {
    const message = argv.message
    const opts = optsFor(message)
    for (let done = 0; done < (count ?? 1); done += WINDOW) {
      const n = Math.min(WINDOW, (count ?? 1) - done)
      record(await Promise.all(Array.from({ length: n }, () => producer.publish(argv.topic, message, opts))))
      published += n
    }
    bytes = published * Buffer.byteLength(message)
  } else {
    ;({ published, bytes } = await publishLines(io, producer, argv.topic, optsFor, count, record))
  }
  if (!argv.json) io.stdout.write(summary(argv.topic, published, bytes, results))
}

async function publishLines(
  io: CliIO,
  producer: Producer,
  topic: string,
  optsFor: (line: string) => { key?: string | undefined; headers?: Record<string, string> | undefined },
  count: number | undefined,
  record: (r: PublishResult[]) => void,
): Promise<{ published: number; bytes: number }> {
  const lines = readline.createInterface({ input: io.stdin, crlfDelay: Infinity })
  let window: Promise<PublishResult>[] = []
  let published = 0
  let bytes = 0
  let lineNo = 0
  try {
    for await (const line of lines) {
      lineNo++
      if (line === '') continue
      let opts
      try {
        opts = optsFor(line)
      } catch (err) {
        // Stop at the bad line; what came before it is published (and printed with --json).
        record(await Promise.all(window))
        throw new CliFailure(`line ${lineNo}: ${(err as Error).message}; the ${published} message${published === 1 ? '' : 's'} before it ${published === 1 ? 'was' : 'were'} published`)
      }
      window.push(producer.publish(topic, line, opts))
      published++
      bytes += Buffer.byteLength(line)
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
  return { published, bytes }
}

function summary(topic: string, n: number, bytes: number, results: PublishResult[]): string {
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
  return `published ${n} messages (${formatBytes(bytes)}) to ${topic} (${where.join(', ')})\n`
}
