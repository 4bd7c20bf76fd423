/**
 * Reading a UDP telemetry datagram (layout in protocol/PROTOCOL.md,
 * "Telemetry datagrams"; the client's encoder is clients/telemetry.ts):
 *
 *   offset  size  field
 *   0       u8    magic     0x40, the TELEMETRY opcode: stray traffic is told apart at once
 *   1       u8    version   1
 *   2       u8    flags     bit 0 = signed; the other bits must be 0
 *   3       u8    topicLen  T, 1-249
 *   4       T     topic     ASCII topic name
 *   -- signed only --
 *   4+T     u8    userLen   U, 1-255
 *   5+T     U     user      the sender's user name (whose token keys the HMAC)
 *   -- always --
 *   ...     u32   count     records that follow, at least 1
 *   ...     ...   records   exactly `count` records in the record encoding
 *   -- signed only --
 *   last 32 bytes HMAC-SHA256 over every byte before it, keyed with the user's token (UTF-8)
 *
 * Nothing here trusts a length before checking it against the bytes received.
 * The result says why a datagram is unusable, for skiff_udp_datagrams_total:
 *   garbage    not a telemetry datagram (magic, version, flags, or too short for a header)
 *   truncated  a declared length runs past the end of the datagram
 *   malformed  lengths fit but the content is wrong (count, record structure)
 *   bad_topic  the topic name is not a valid name, or names a dead-letter topic
 */
import { isDeadLetterTopic, nameProblem } from '../../../protocol/names.js'
import { Op, RECORD_OVERHEAD } from '../../../protocol/index.js'

export const DATAGRAM_MAGIC = Op.TELEMETRY
export const DATAGRAM_VERSION = 1
export const FLAG_SIGNED = 0x01
export const HMAC_BYTES = 32

export interface Datagram {
  topic: string
  /** The signer, for signed datagrams. */
  user: string | undefined
  count: number
  records: Buffer
  /** Signed datagrams: the bytes the HMAC covers, and the HMAC. */
  signedBytes: Buffer | undefined
  mac: Buffer | undefined
}

export type DatagramReject = 'garbage' | 'truncated' | 'malformed' | 'bad_topic'
export type DecodedDatagram = { ok: true; datagram: Datagram } | { ok: false; reason: DatagramReject }

const reject = (reason: DatagramReject): DecodedDatagram => ({ ok: false, reason })

export function decodeDatagram(buf: Buffer): DecodedDatagram {
  if (buf.length < 4 || buf[0] !== DATAGRAM_MAGIC || buf[1] !== DATAGRAM_VERSION) return reject('garbage')
  const flags = buf[2]!
  if ((flags & ~FLAG_SIGNED) !== 0) return reject('garbage')
  const signed = (flags & FLAG_SIGNED) !== 0
  const end = signed ? buf.length - HMAC_BYTES : buf.length
  if (end < 4) return reject('truncated')
  let pos = 3
  const topicLen = buf[pos++]!
  if (topicLen === 0) return reject('bad_topic')
  if (pos + topicLen > end) return reject('truncated')
  const topic = buf.toString('latin1', pos, pos + topicLen)
  pos += topicLen
  if (nameProblem(topic) || isDeadLetterTopic(topic)) return reject('bad_topic')
  let user: string | undefined
  if (signed) {
    if (pos + 1 > end) return reject('truncated')
    const userLen = buf[pos++]!
    if (userLen === 0) return reject('malformed')
    if (pos + userLen > end) return reject('truncated')
    user = buf.toString('utf8', pos, pos + userLen)
    pos += userLen
  }
  if (pos + 4 > end) return reject('truncated')
  const count = buf.readUInt32BE(pos)
  pos += 4
  if (count === 0) return reject('malformed')
  const records = buf.subarray(pos, end)
  const fit = recordsFit(records, count)
  if (fit !== 'ok') return reject(fit)
  return {
    ok: true,
    datagram: {
      topic,
      user,
      count,
      records,
      signedBytes: signed ? buf.subarray(0, end) : undefined,
      mac: signed ? buf.subarray(end) : undefined,
    },
  }
}

/**
 * Do `count` records' length fields fit the blob exactly? Only the outer
 * lengths are read here (a cut-off datagram shows as truncated); the record
 * structure itself is checked by the publish path (walkRecords and headers).
 */
function recordsFit(blob: Buffer, count: number): 'ok' | 'truncated' | 'malformed' {
  // Each record takes at least RECORD_OVERHEAD bytes: a count beyond that cannot fit.
  if (count > Math.floor(blob.length / RECORD_OVERHEAD) + 1) return 'truncated'
  let pos = 0
  for (let i = 0; i < count; i++) {
    if (pos + 4 > blob.length) return 'truncated'
    const len = blob.readUInt32BE(pos)
    if (len < RECORD_OVERHEAD - 4) return 'malformed'
    pos += 4 + len
    if (pos > blob.length) return 'truncated'
  }
  return pos === blob.length ? 'ok' : 'malformed'
}
