/**
 * The parts of PROTOCOL.md that are generated from code, so the spec cannot
 * drift from it: the opcode table (protocol/opcodes.ts), the error table
 * (protocol/errors.ts) and one annotated hex example per golden vector
 * (protocol/vectors/*.json). Each lives between markers
 *
 *   <!-- generated:NAME -->  ...  <!-- /generated:NAME -->
 *
 * `generate.ts` rewrites them; spec.test.ts fails when they are stale.
 */
import { Op, RESERVED_OPCODES, ERRORS, keyHash } from '../../protocol/index.js'
import { dumpFrame, dumpBatch, dumpRecords, renderLines } from './hexdump.js'
import type { VectorFile } from './vector-json.js'

type Direction = 'C->B' | 'B->C' | 'both'

/** What the opcode table says about each opcode beyond its number. */
export const OPCODE_DOC: Record<keyof typeof Op, { dir: Direction; purpose: string }> = {
  HELLO: { dir: 'C->B', purpose: 'open the session: versions offered, client name, credentials' },
  WELCOME: { dir: 'B->C', purpose: 'session accepted: version chosen, limits' },
  PING: { dir: 'both', purpose: 'heartbeat; answered by PONG' },
  PONG: { dir: 'both', purpose: 'answer to PING' },
  ERROR: { dir: 'B->C', purpose: 'a request failed, or the connection is being closed' },
  OK: { dir: 'B->C', purpose: 'success answer to SUBSCRIBE, UNSUBSCRIBE and the admin requests' },
  PUBLISH: { dir: 'C->B', purpose: 'append a batch of records to a topic' },
  PUBLISH_ACK: { dir: 'B->C', purpose: 'the records of a PUBLISH are durable: their partitions and offsets' },
  PRODUCER_INIT: { dir: 'C->B', purpose: 'reserved: allocate an idempotent producer id' },
  SUBSCRIBE: { dir: 'C->B', purpose: 'join a consumer group on a topic' },
  UNSUBSCRIBE: { dir: 'C->B', purpose: 'leave a subscription' },
  DELIVER: { dir: 'B->C', purpose: 'messages for a subscription' },
  ACK: { dir: 'C->B', purpose: 'settle delivered messages: ack, nack, progress, term' },
  CREDIT: { dir: 'C->B', purpose: 'reserved: explicit credit top-up for a subscription' },
  TOPIC_CREATE: { dir: 'C->B', purpose: 'create a topic' },
  TOPIC_DESCRIBE: { dir: 'C->B', purpose: 'describe a topic and its partitions' },
  TOPIC_LIST: { dir: 'C->B', purpose: 'list topics' },
  TOPIC_DELETE: { dir: 'C->B', purpose: 'delete a topic' },
  GROUP_LIST: { dir: 'C->B', purpose: 'list consumer groups' },
  GROUP_DESCRIBE: { dir: 'C->B', purpose: 'describe a consumer group: cursors, lag, in flight' },
  GROUP_DELETE: { dir: 'C->B', purpose: "delete a consumer group's state on every partition" },
  GROUP_RESET: { dir: 'C->B', purpose: 'move a consumer group to earliest, latest, an offset or a time' },
  TOPIC_PURGE: { dir: 'C->B', purpose: 'drop every record of a topic; offsets go on' },
  TOPIC_ALTER: { dir: 'C->B', purpose: "change a topic's retention, add partitions or (in a cluster) move partitions to other brokers" },
  METADATA: { dir: 'C->B', purpose: 'which broker leads each partition, and where each broker is' },
  REPL_FETCH: { dir: 'C->B', purpose: 'replication: a follower broker pulls the partitions it copies from their leader' },
  REPL_DATA: { dir: 'B->C', purpose: 'replication: the leader\'s answer to REPL_FETCH, stored batches verbatim' },
  TELEMETRY: { dir: 'C->B', purpose: 'reserved: the UDP telemetry datagram' },
  REQUEST: { dir: 'both', purpose: 'a request for whoever serves a topic (request/reply, no disk)' },
  REPLY: { dir: 'both', purpose: 'the answer to a REQUEST' },
  SERVE: { dir: 'C->B', purpose: 'answer requests on a topic' },
  UNSERVE: { dir: 'C->B', purpose: 'stop answering requests on a topic' },
}

const hex2 = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`

export function opcodeTable(): string {
  const rows = Object.entries(Op).map(([name, code]) => {
    const doc = OPCODE_DOC[name as keyof typeof Op]
    const status = RESERVED_OPCODES.has(code) ? 'reserved' : 'served'
    return `| ${hex2(code)} | ${name} | ${doc.dir} | ${status} | ${doc.purpose} |`
  })
  return ['| opcode | name | direction | status | purpose |', '| --- | --- | --- | --- | --- |', ...rows].join('\n')
}

export function errorTable(): string {
  const rows = Object.values(ERRORS).map((e) => `| ${e.wireCode} | ${e.name} | ${e.fatal ? 'yes' : 'no'} | ${e.retriable ? 'yes' : 'no'} | ${e.message} |`)
  return ['| code | name | fatal | retriable | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n')
}

/** Keys an implementation can check its partition choice against. */
export const PARTITION_EXAMPLE_KEYS = ['a', 'foobar', 'customer-42', 'ключ']

export function partitionTable(): string {
  const rows = PARTITION_EXAMPLE_KEYS.map((k) => {
    const bytes = Buffer.from(k, 'utf8')
    const h = keyHash(bytes)
    return `| ${JSON.stringify(k)} | ${bytes.toString('hex')} | 0x${h.toString(16).padStart(8, '0')} | ${h % 3} | ${h % 16} |`
  })
  return ['| key | UTF-8 bytes | FNV-1a 32 | of 3 partitions | of 16 partitions |', '| --- | --- | --- | --- | --- |', ...rows].join('\n')
}

export function vectorExample(v: VectorFile): string {
  const bytes = Buffer.from(v.hex, 'hex')
  const lines = v.frame === 'BATCH' ? dumpBatch(bytes) : v.frame === 'RECORDS' ? (dumpRecords(bytes) ?? []) : dumpFrame(bytes)
  return [
    `${v.note ?? ''} Vector: \`protocol/vectors/${v.file}\`.`,
    '',
    '```text',
    `value: ${JSON.stringify(v.value)}`,
    '',
    renderLines(lines),
    '```',
  ].join('\n')
}

const BLOCK = /<!-- generated:([^>]+?) -->\n[\s\S]*?<!-- \/generated:\1 -->/g

/** The content each generated block must have; throws on a block name it does not know. */
export function blockContent(name: string, vectors: readonly VectorFile[]): string {
  if (name === 'opcodes') return opcodeTable()
  if (name === 'errors') return errorTable()
  if (name === 'partitions') return partitionTable()
  const m = /^example (\S+)$/.exec(name)
  const v = m && vectors.find((x) => x.file === m[1])
  if (!v) throw new Error(`PROTOCOL.md has a generated block "${name}" that matches nothing`)
  return vectorExample(v)
}

/** PROTOCOL.md with every generated block brought up to date. */
export function renderSpec(spec: string, vectors: readonly VectorFile[]): string {
  return spec.replace(BLOCK, (_all, name: string) => `<!-- generated:${name} -->\n${blockContent(name, vectors)}\n<!-- /generated:${name} -->`)
}

/** Names of the generated blocks in a spec text. */
export function blockNames(spec: string): string[] {
  return Array.from(spec.matchAll(BLOCK), (m) => m[1]!)
}
