/**
 * One encode/decode pair per frame type (and for the two byte layouts that are
 * not frames: a records blob and a stored batch), so the vector, fuzz and spec
 * code can treat every frame alike. Everything here calls the real protocol
 * modules; the table only adapts their signatures.
 */
import {
  Op,
  Fields,
  SkiffError,
  ERRORS,
  type ErrorName,
  encodeHello,
  encodeMetadataRequest,
  decodeMetadataRequest,
  encodeReplFetch,
  decodeReplFetch,
  encodeReplData,
  decodeReplData,
  decodeHello,
  encodeWelcome,
  decodeWelcome,
  encodePing,
  encodePong,
  encodeError,
  decodeError,
  encodeOk,
  decodeOk,
  encodePublish,
  decodePublish,
  encodePublishAck,
  decodePublishAck,
  encodeSubscribe,
  decodeSubscribe,
  encodeUnsubscribe,
  decodeUnsubscribe,
  encodeDeliver,
  decodeDeliver,
  encodeAck,
  readAck,
  encodeTopicCreate,
  decodeTopicCreate,
  encodeTopicRef,
  decodeTopicRef,
  encodeTopicList,
  decodeCorrOnly,
  encodeGroupList,
  decodeGroupList,
  encodeGroupDescribe,
  decodeGroupDescribe,
  encodeGroupDelete,
  decodeGroupDelete,
  encodeGroupReset,
  decodeGroupReset,
  encodeTopicPurge,
  decodeTopicPurge,
  encodeTopicAlter,
  decodeTopicAlter,
  encodeServe,
  decodeServe,
  encodeRequest,
  decodeRequest,
  encodeReply,
  decodeReply,
  encodeRecord,
  countRecords,
  decodeRecords,
  encodeBatch,
  readBatchHeader,
  verifyBatch,
  batchHeaderBytes,
  type RecordInput,
} from '../../protocol/index.js'

export interface Codec {
  /** Frame name as in `Op`, or RECORDS / BATCH for the non-frame layouts. */
  frame: string
  /** Undefined for RECORDS and BATCH. */
  opcode: number | undefined
  /** Runtime value -> bytes (the whole frame for frames). */
  encode(value: any): Buffer
  /** Frame body (or the whole layout for RECORDS / BATCH) -> runtime value. */
  decode(bytes: Buffer): unknown
}

/** PING and PONG have no decoder of their own: the body is a map (usually empty) whose fields are ignored. */
function decodeEmpty(frame: string) {
  return (body: Buffer): Record<string, never> => {
    new Fields(frame, body)
    return {}
  }
}

function encodeErrorValue(v: { corr?: number; code: number; name: ErrorName; message: string; details?: Record<string, unknown> }): Buffer {
  if (ERRORS[v.name]?.wireCode !== v.code) throw new Error(`error vector: code ${v.code} is not ${v.name}`)
  return encodeError(new SkiffError(v.name, v.message, v.details ? { details: v.details } : {}), v.corr)
}

export interface RecordsValue {
  count: number
  records: RecordInput[]
}

export const FRAME_CODECS: readonly Codec[] = [
  { frame: 'HELLO', opcode: Op.HELLO, encode: encodeHello, decode: decodeHello },
  { frame: 'WELCOME', opcode: Op.WELCOME, encode: encodeWelcome, decode: decodeWelcome },
  { frame: 'PING', opcode: Op.PING, encode: () => encodePing(), decode: decodeEmpty('PING') },
  { frame: 'PONG', opcode: Op.PONG, encode: () => encodePong(), decode: decodeEmpty('PONG') },
  { frame: 'ERROR', opcode: Op.ERROR, encode: encodeErrorValue, decode: decodeError },
  { frame: 'OK', opcode: Op.OK, encode: (v) => encodeOk(v.corr, v.result), decode: decodeOk },
  { frame: 'PUBLISH', opcode: Op.PUBLISH, encode: encodePublish, decode: decodePublish },
  { frame: 'PUBLISH_ACK', opcode: Op.PUBLISH_ACK, encode: encodePublishAck, decode: decodePublishAck },
  { frame: 'SUBSCRIBE', opcode: Op.SUBSCRIBE, encode: encodeSubscribe, decode: decodeSubscribe },
  { frame: 'UNSUBSCRIBE', opcode: Op.UNSUBSCRIBE, encode: encodeUnsubscribe, decode: decodeUnsubscribe },
  { frame: 'DELIVER', opcode: Op.DELIVER, encode: encodeDeliver, decode: decodeDeliver },
  // readAck: the frame as sent (decodeAck expands ranges into one entry per message)
  { frame: 'ACK', opcode: Op.ACK, encode: encodeAck, decode: readAck },
  { frame: 'TOPIC_CREATE', opcode: Op.TOPIC_CREATE, encode: encodeTopicCreate, decode: decodeTopicCreate },
  {
    frame: 'TOPIC_DESCRIBE',
    opcode: Op.TOPIC_DESCRIBE,
    encode: (v) => encodeTopicRef(Op.TOPIC_DESCRIBE, v),
    decode: (b) => decodeTopicRef('TOPIC_DESCRIBE', b),
  },
  { frame: 'TOPIC_LIST', opcode: Op.TOPIC_LIST, encode: (v) => encodeTopicList(v.corr), decode: (b) => decodeCorrOnly('TOPIC_LIST', b) },
  {
    frame: 'TOPIC_DELETE',
    opcode: Op.TOPIC_DELETE,
    encode: (v) => encodeTopicRef(Op.TOPIC_DELETE, v),
    decode: (b) => decodeTopicRef('TOPIC_DELETE', b),
  },
  { frame: 'GROUP_LIST', opcode: Op.GROUP_LIST, encode: encodeGroupList, decode: decodeGroupList },
  { frame: 'GROUP_DESCRIBE', opcode: Op.GROUP_DESCRIBE, encode: encodeGroupDescribe, decode: decodeGroupDescribe },
  { frame: 'GROUP_DELETE', opcode: Op.GROUP_DELETE, encode: encodeGroupDelete, decode: decodeGroupDelete },
  { frame: 'GROUP_RESET', opcode: Op.GROUP_RESET, encode: encodeGroupReset, decode: decodeGroupReset },
  { frame: 'TOPIC_PURGE', opcode: Op.TOPIC_PURGE, encode: encodeTopicPurge, decode: decodeTopicPurge },
  { frame: 'TOPIC_ALTER', opcode: Op.TOPIC_ALTER, encode: encodeTopicAlter, decode: decodeTopicAlter },
  { frame: 'METADATA', opcode: Op.METADATA, encode: encodeMetadataRequest, decode: decodeMetadataRequest },
  { frame: 'REPL_FETCH', opcode: Op.REPL_FETCH, encode: encodeReplFetch, decode: decodeReplFetch },
  { frame: 'REPL_DATA', opcode: Op.REPL_DATA, encode: encodeReplData, decode: decodeReplData },
  { frame: 'SERVE', opcode: Op.SERVE, encode: (v) => encodeServe(Op.SERVE, v), decode: (b) => decodeServe('SERVE', b) },
  { frame: 'UNSERVE', opcode: Op.UNSERVE, encode: (v) => encodeServe(Op.UNSERVE, v), decode: (b) => decodeServe('UNSERVE', b) },
  { frame: 'REQUEST', opcode: Op.REQUEST, encode: encodeRequest, decode: decodeRequest },
  { frame: 'REPLY', opcode: Op.REPLY, encode: encodeReply, decode: decodeReply },
]

export const RECORDS_CODEC: Codec = {
  frame: 'RECORDS',
  opcode: undefined,
  encode: (v: RecordsValue) => Buffer.concat(v.records.map(encodeRecord)),
  decode: (b) => {
    const count = countRecords(b)
    return { count, records: decodeRecords(b, count) }
  },
}

export const BATCH_CODEC: Codec = {
  frame: 'BATCH',
  opcode: undefined,
  encode: encodeBatch,
  decode: (b) => {
    if (!verifyBatch(b)) throw new Error('BATCH vector does not verify')
    return { ...readBatchHeader(b)!, records: b.subarray(batchHeaderBytes(b[16]!)) }
  },
}

export const ALL_CODECS: readonly Codec[] = [...FRAME_CODECS, RECORDS_CODEC, BATCH_CODEC]

export function codecFor(frame: string): Codec {
  const c = ALL_CODECS.find((x) => x.frame === frame)
  if (!c) throw new Error(`no codec for ${frame}`)
  return c
}

/** The frame decoder for an opcode, if the opcode has one (reserved opcodes do not). */
export function decoderForOpcode(opcode: number): ((body: Buffer) => unknown) | undefined {
  return FRAME_CODECS.find((c) => c.opcode === opcode)?.decode
}
