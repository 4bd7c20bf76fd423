/**
 * The boundary between etcd's raw messages (proto.ts loading options: int64
 * as decimal strings, bytes as Buffers, snake_case names) and the typed values
 * the rest of the broker uses.
 *
 * Decisions, written down once:
 * - Revisions, versions and TTLs become JS numbers. etcd counts revisions up
 *   from 1, one per write; 2^53 is out of reach, and toNumber() throws rather
 *   than round if it ever were not.
 * - Lease ids stay decimal strings (`LeaseId`): etcd draws them from a 64-bit
 *   generator and they routinely exceed 2^53, so a number would corrupt them.
 *   '0' means "no lease", as upstream.
 * - Keys and values are UTF-8 strings: every key and value skiffmq writes is
 *   text (paths and JSON). Writes also accept Buffers.
 */

export type LeaseId = string
export const NO_LEASE: LeaseId = '0'

export type Bytes = string | Buffer

export interface KeyValue {
  key: string
  value: string
  createRevision: number
  modRevision: number
  /** Number of writes since the key was created; 0 only in compares on an absent key. */
  version: number
  lease: LeaseId
}

export interface RangeResult {
  kvs: KeyValue[]
  /** The store revision the read was served at. */
  revision: number
}

/** Raw shapes, as loaded (see proto.ts); only the fields we read. */
export interface RawKeyValue {
  key: Buffer
  create_revision: string
  mod_revision: string
  version: string
  value: Buffer
  lease: string
}
export interface RawHeader {
  revision: string
  member_id: string
  raft_term: string
}
export interface RawRangeResponse {
  header: RawHeader
  kvs: RawKeyValue[]
  more: boolean
  count: string
}

export function toNumber(int64: string | number, what: string): number {
  const n = Number(int64)
  if (!Number.isSafeInteger(n)) throw new Error(`etcd returned ${what} ${int64}, beyond the integers a number holds exactly`)
  return n
}

export function toBuffer(b: Bytes): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b
}

export function fromRawKv(kv: RawKeyValue): KeyValue {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value.toString('utf8'),
    createRevision: toNumber(kv.create_revision, 'create_revision'),
    modRevision: toNumber(kv.mod_revision, 'mod_revision'),
    version: toNumber(kv.version, 'version'),
    lease: kv.lease,
  }
}

export function fromRawRange(r: RawRangeResponse): RangeResult {
  return { kvs: r.kvs.map(fromRawKv), revision: toNumber(r.header.revision, 'revision') }
}

/**
 * The range_end that makes [prefix, end) cover every key starting with prefix:
 * the prefix with its last byte below 0xff incremented and the rest dropped,
 * or "\0" (every key from prefix on) when all bytes are 0xff, as clientv3's
 * GetPrefixRangeEnd.
 */
export function prefixEnd(prefix: Bytes): Buffer {
  const end = Buffer.from(toBuffer(prefix))
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0])
}
