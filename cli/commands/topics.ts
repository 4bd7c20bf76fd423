/**
 * `skiff topics list|create|describe|delete`, `topics purge <topic> [--yes]`
 * and `topics alter <topic> [--retention 7d] [--retention-bytes 1GiB] [--partitions N]
 * [--move P=ID,ID,... ...]` (in a cluster: partition P's replicas become those brokers).
 */
import readline from 'node:readline'
import type { Argv, CommandModule } from 'yargs'
import type { AlterTopicOptions, PartitionInfo, TopicDescription } from '../../clients/index.js'
import { MAX_BROKER_ID, MAX_MOVES, MAX_MOVE_REPLICAS, MAX_PARTITIONS } from '../../protocol/index.js'
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
  move?: string | string[] | undefined
}

/** One `--move`: a partition and the brokers it moves to. */
export interface MoveArg {
  partition: number
  replicas: number[]
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
    describe: 'show a topic: settings, and offsets, size and corrupt ranges per partition (in a cluster also its leader, replicas and in-sync replicas, and the brokers a moving partition goes to)',
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
    describe: "change a topic's retention, add partitions or (in a cluster) move partitions to other brokers",
    options: (b) =>
      b
        .positional('topic', { type: 'string', demandOption: true })
        .option('retention', { type: 'string', describe: 'delete segments older than this: 7d, 12h, 30m, 500ms... (forever or 0: keep)' })
        .option('retention-bytes', { type: 'string', describe: 'keep about this much per partition: 1GiB, 500MB... (unlimited or 0: keep all)' })
        .option('partitions', { alias: 'p', type: 'number', describe: 'new partition count: only more than now (the .dlq topic grows too)' })
        .option('move', {
          type: 'string',
          describe: 'in a cluster: move partition P to brokers ID,ID,... (as many as its replication factor), e.g. --move 0=2,3,4; repeat for more partitions',
        }) as unknown as Argv<TopicArgs>,
    run: async (client, argv) => {
      const opts: AlterTopicOptions = {}
      if (argv.retention !== undefined) opts.retentionMs = parseDuration('--retention', argv.retention)
      const bytes = argv.retentionBytes as unknown as string | undefined
      if (bytes !== undefined) opts.retentionBytes = parseBytes('--retention-bytes', String(bytes))
      if (argv.partitions !== undefined) {
        if (!Number.isInteger(argv.partitions) || argv.partitions < 1) throw new CliFailure(`--partitions must be a positive integer, got ${argv.partitions}`)
        opts.partitions = argv.partitions
      }
      if (argv.move !== undefined) opts.moves = parseMoves(([] as string[]).concat(argv.move))
      if (Object.keys(opts).length === 0) throw new CliFailure('name something to change: --retention, --retention-bytes, --partitions or --move')
      const before = await client.admin.describeTopic(argv.topic)
      const d = await client.admin.alterTopic(argv.topic, opts)
      if (argv.json) return printJson(io, d)
      io.stdout.write(alterText(before, d, opts.moves ?? []))
    },
  })
  return commandGroup(io, 'topics', 'list, create, describe, delete, purge and alter topics', [list, create, describe, remove, purge, alter], 'name a topics command: list, create, describe, delete, purge or alter')
}

/**
 * What `topics alter` changed, from the descriptions before and after, and
 * the moves it asked for. A move goes on after the answer, so each is said
 * as asked, with the brokers the partition was on (or the move it replaces);
 * one the partition needs not (it is on those brokers, or moving to them
 * already) is said as such.
 */
export function alterText(before: TopicDescription, d: TopicDescription, moves: readonly MoveArg[]): string {
  const was = new Map((before.placement ?? []).map((p) => [p.partition, p]))
  const now = new Map((d.placement ?? []).map((p) => [p.partition, p]))
  const lines: string[] = []
  let started = 0
  let moving = 0
  for (const m of moves) {
    const to = m.replicas.join(',')
    const b = was.get(m.partition)
    const a = now.get(m.partition)
    if (a && a.movingTo === undefined && sameSet(a.replicas, m.replicas)) {
      lines.push(`  partition ${m.partition} is on brokers ${to} already`)
      continue
    }
    moving++
    if (b?.movingTo !== undefined && sameSet(b.movingTo, m.replicas)) {
      lines.push(`  partition ${m.partition} is moving to brokers ${to} already`)
      continue
    }
    started++
    if (b?.movingTo !== undefined) lines.push(`  moving partition ${m.partition} to brokers ${to} (instead of ${b.movingTo.join(',')})`)
    else lines.push(`  moving partition ${m.partition} to brokers ${to}${b ? ` (from ${b.replicas.join(',')})` : ''}`)
  }
  const changes: string[] = []
  if (d.partitions !== before.partitions) changes.push(`partitions ${before.partitions} -> ${d.partitions}`)
  if (d.retentionMs !== before.retentionMs) changes.push(`retention ${forever(before.retentionMs, 'ms')} -> ${forever(d.retentionMs, 'ms')}`)
  if (d.retentionBytes !== before.retentionBytes) changes.push(`retention size ${forever(before.retentionBytes, 'bytes')} -> ${forever(d.retentionBytes, 'bytes')}`)
  if (started > 0) changes.push(`moving ${started} partition${started === 1 ? '' : 's'}`)
  let text = `altered topic ${d.topic}: ${changes.length > 0 ? changes.join(', ') : 'nothing changed'}\n`
  for (const line of lines) text += line + '\n'
  if (moving > 0) text += `the move${moving === 1 ? ' is' : 's are'} under way: skiff topics describe ${d.topic} shows ${moving === 1 ? 'it' : 'each'} as moving until done\n`
  return text
}

const sameSet = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((id) => b.includes(id))

/**
 * The `--move` values, `P=ID,ID,...` each (spaces around the numbers are
 * allowed): partition P's replicas become those brokers. Strict: every
 * number a non-negative integer in range, at least one broker, no broker
 * twice in one move, no partition in two moves.
 */
export function parseMoves(values: readonly string[]): MoveArg[] {
  if (values.length > MAX_MOVES) throw new CliFailure(`at most ${MAX_MOVES} --move options at a time, got ${values.length}`)
  const moves: MoveArg[] = []
  const given = new Map<number, string>()
  for (const value of values) {
    const at = `--move ${JSON.stringify(value)}`
    const eq = value.indexOf('=')
    if (eq < 0) throw new CliFailure(`${at} must be PARTITION=BROKER,BROKER,... like 0=2,3,4 (the partition, then the ids of the brokers it moves to)`)
    const p = value.slice(0, eq).trim()
    const partition = asUint(p, MAX_PARTITIONS - 1)
    if (partition === undefined) throw new CliFailure(`${at}: partition ${JSON.stringify(p)} must be an integer from 0 to ${MAX_PARTITIONS - 1}`)
    const earlier = given.get(partition)
    if (earlier !== undefined) throw new CliFailure(`${at}: partition ${partition} is moved by --move ${JSON.stringify(earlier)} already; give each partition once`)
    given.set(partition, value)
    const list = value.slice(eq + 1).trim()
    if (list === '') throw new CliFailure(`${at}: name the brokers partition ${partition} moves to, like ${partition}=2,3,4`)
    const replicas: number[] = []
    for (const raw of list.split(',')) {
      const id = asUint(raw.trim(), MAX_BROKER_ID)
      if (id === undefined) throw new CliFailure(`${at}: broker id ${JSON.stringify(raw.trim())} must be an integer from 0 to ${MAX_BROKER_ID}`)
      if (replicas.includes(id)) throw new CliFailure(`${at}: broker ${id} is named twice`)
      replicas.push(id)
    }
    if (replicas.length > MAX_MOVE_REPLICAS) throw new CliFailure(`${at}: at most ${MAX_MOVE_REPLICAS} brokers, got ${replicas.length}`)
    moves.push({ partition, replicas })
  }
  return moves
}

/** A decimal integer from 0 to max, as typed (no sign, no fraction, no exponent); undefined otherwise. */
function asUint(s: string, max: number): number | undefined {
  if (!/^\d{1,15}$/.test(s)) return undefined
  const n = Number(s)
  return n <= max ? n : undefined
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
  for (const p of d.placement ?? []) {
    if (p.movingTo !== undefined) text += `  partition ${p.partition}: moving to ${p.movingTo.join(',')}\n`
  }
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
 * show '-' (ask their leader, or use `skiff cluster status`). While a
 * partition moves its REPLICAS are the old and the new brokers; a line under
 * the table names the brokers it moves to.
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
