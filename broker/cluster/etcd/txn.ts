/**
 * Typed transactions: compares on a key's mod/create revision, version, value
 * or lease, and put/delete/range operations, turned into etcd's raw
 * TxnRequest and back. The enum names sent here ('MOD', 'EQUAL', ...) are the
 * ones proto.ts checks against the loaded proto at load time.
 *
 * A compare on an absent key sees version, create and mod revision 0: "create
 * only if absent" is `{ key, target: 'createRevision', op: '==', value: 0 }`.
 */
import { fromRawKv, NO_LEASE, prefixEnd, toBuffer, toNumber, type Bytes, type KeyValue, type LeaseId, type RawHeader, type RawKeyValue } from './codec.js'

export type CompareOp = '==' | '!=' | '>' | '<'

export type Compare =
  | { key: Bytes; target: 'modRevision' | 'createRevision' | 'version'; op: CompareOp; value: number }
  | { key: Bytes; target: 'value'; op: CompareOp; value: Bytes }
  | { key: Bytes; target: 'lease'; op: CompareOp; value: LeaseId }

export type Op =
  | { type: 'put'; key: Bytes; value: Bytes; lease?: LeaseId }
  | { type: 'delete'; key: Bytes; prefix?: boolean }
  | { type: 'range'; key: Bytes; prefix?: boolean }

export type OpResult =
  | { type: 'put'; revision: number }
  | { type: 'delete'; deleted: number; revision: number }
  | { type: 'range'; kvs: KeyValue[]; revision: number }

export interface TxnRequest {
  compare?: Compare[]
  success?: Op[]
  failure?: Op[]
}

export interface TxnResult {
  succeeded: boolean
  /** The store revision after the transaction (unchanged when it wrote nothing). */
  revision: number
  /** One result per operation of the branch that ran, in order. */
  responses: OpResult[]
}

const RESULT: Record<CompareOp, string> = { '==': 'EQUAL', '!=': 'NOT_EQUAL', '>': 'GREATER', '<': 'LESS' }
// Upstream names the targets VERSION, CREATE, MOD, VALUE, LEASE and the value
// fields version, create_revision, mod_revision, value, lease.
const TARGET = {
  version: ['VERSION', 'version'],
  createRevision: ['CREATE', 'create_revision'],
  modRevision: ['MOD', 'mod_revision'],
  value: ['VALUE', 'value'],
  lease: ['LEASE', 'lease'],
} as const

function rawCompare(c: Compare): Record<string, unknown> {
  const result = RESULT[c.op]
  const target = TARGET[c.target]
  if (!result || !target) throw new Error(`etcd txn: unknown compare ${String(c.op)} on ${String(c.target)}`)
  const [enumName, field] = target
  let value: unknown
  if (c.target === 'value') value = toBuffer(c.value)
  else if (c.target === 'lease') value = String(c.value)
  else {
    if (!Number.isSafeInteger(c.value)) throw new Error(`etcd txn: compare ${c.target} needs an integer, got ${String(c.value)}`)
    value = String(c.value)
  }
  return { result, target: enumName, key: toBuffer(c.key), [field]: value }
}

function rangeEnd(key: Bytes, prefix: boolean | undefined): Buffer | undefined {
  return prefix ? prefixEnd(key) : undefined
}

export function rawOp(op: Op): Record<string, unknown> {
  switch (op.type) {
    case 'put':
      return { request_put: { key: toBuffer(op.key), value: toBuffer(op.value), lease: op.lease ?? NO_LEASE } }
    case 'delete':
      return { request_delete_range: { key: toBuffer(op.key), range_end: rangeEnd(op.key, op.prefix) } }
    case 'range':
      return { request_range: { key: toBuffer(op.key), range_end: rangeEnd(op.key, op.prefix), sort_order: 'ASCEND', sort_target: 'KEY' } }
    default:
      throw new Error(`etcd txn: unknown operation ${String((op as { type: unknown }).type)}`)
  }
}

export function rawTxn(req: TxnRequest): Record<string, unknown> {
  return {
    compare: (req.compare ?? []).map(rawCompare),
    success: (req.success ?? []).map(rawOp),
    failure: (req.failure ?? []).map(rawOp),
  }
}

interface RawResponseOp {
  response: 'response_range' | 'response_put' | 'response_delete_range' | 'response_txn'
  response_range?: { header: RawHeader; kvs: RawKeyValue[] }
  response_put?: { header: RawHeader }
  response_delete_range?: { header: RawHeader; deleted: string }
}

export interface RawTxnResponse {
  header: RawHeader
  succeeded: boolean
  responses: RawResponseOp[]
}

export function fromRawTxn(r: RawTxnResponse): TxnResult {
  // Responses inside a txn carry a header whose revision is the txn's.
  const revision = toNumber(r.header.revision, 'revision')
  const responses = r.responses.map((op): OpResult => {
    if (op.response_put) return { type: 'put', revision }
    if (op.response_delete_range) return { type: 'delete', deleted: toNumber(op.response_delete_range.deleted, 'deleted'), revision }
    if (op.response_range) return { type: 'range', kvs: op.response_range.kvs.map(fromRawKv), revision }
    throw new Error(`etcd txn: unexpected response ${op.response}`)
  })
  return { succeeded: r.succeeded, revision, responses }
}
