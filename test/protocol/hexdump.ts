/**
 * Annotated hex dumps of frames, MessagePack bodies, records blobs and stored
 * batches, for the examples in PROTOCOL.md. The MessagePack walker is strict
 * and independent of msgpackr on purpose: it is a second reading of the bytes,
 * and it reports which token kinds a body uses so tests can hold the encoder
 * to the wire conventions (no extension types, no floats).
 */
import { opcodeName, BATCH_MAGIC, batchHeaderBytes } from '../../protocol/index.js'

export interface Line {
  depth: number
  bytes: Buffer
  note: string
}

export type TokenKind = 'nil' | 'bool' | 'uint' | 'int' | 'float' | 'str' | 'bin' | 'array' | 'map' | 'ext'

interface Walk {
  lines: Line[]
  kinds: Set<TokenKind>
  /** Bytes of a bin value may be annotated further (records inside PUBLISH and DELIVER). */
  bin?: ((bytes: Buffer, depth: number) => Line[] | undefined) | undefined
}

class DumpError extends Error {}

/** Read one MessagePack value at `pos`; returns the position after it. */
function walkValue(buf: Buffer, pos: number, depth: number, w: Walk): number {
  const need = (n: number): void => {
    if (pos + n > buf.length) throw new DumpError(`truncated MessagePack at ${pos}`)
  }
  need(1)
  const t = buf[pos]!
  const line = (len: number, kind: TokenKind, note: string): number => {
    need(len)
    w.lines.push({ depth, bytes: buf.subarray(pos, pos + len), note })
    w.kinds.add(kind)
    return pos + len
  }
  const container = (head: number, n: number, kind: 'array' | 'map'): number => {
    let p = line(head, kind, kind === 'array' ? `array, ${n} item${n === 1 ? '' : 's'}` : `map, ${n} entr${n === 1 ? 'y' : 'ies'}`)
    for (let i = 0; i < n * (kind === 'map' ? 2 : 1); i++) p = walkValue(buf, p, depth + 1, w)
    return p
  }
  const str = (head: number, n: number): number => {
    need(head + n)
    return line(head + n, 'str', JSON.stringify(buf.toString('utf8', pos + head, pos + head + n)))
  }
  const bin = (head: number, n: number): number => {
    need(head + n)
    const data = buf.subarray(pos + head, pos + head + n)
    const nested = w.bin?.(data, depth + 1)
    if (!nested) return line(head + n, 'bin', `bin, ${n} bytes`)
    line(head, 'bin', `bin, ${n} bytes: a records blob`)
    w.lines.push(...nested)
    return pos + head + n
  }
  if (t <= 0x7f) return line(1, 'uint', String(t))
  if (t <= 0x8f) return container(1, t & 0x0f, 'map')
  if (t <= 0x9f) return container(1, t & 0x0f, 'array')
  if (t <= 0xbf) return str(1, t & 0x1f)
  if (t >= 0xe0) return line(1, 'int', String(t - 0x100))
  need(1)
  switch (t) {
    case 0xc0:
      return line(1, 'nil', 'nil')
    case 0xc2:
      return line(1, 'bool', 'false')
    case 0xc3:
      return line(1, 'bool', 'true')
    case 0xc4:
      need(2)
      return bin(2, buf[pos + 1]!)
    case 0xc5:
      need(3)
      return bin(3, buf.readUInt16BE(pos + 1))
    case 0xc6:
      need(5)
      return bin(5, buf.readUInt32BE(pos + 1))
    case 0xca:
      need(5)
      return line(5, 'float', `float32 ${buf.readFloatBE(pos + 1)}`)
    case 0xcb:
      need(9)
      return line(9, 'float', `float64 ${buf.readDoubleBE(pos + 1)}`)
    case 0xcc:
      need(2)
      return line(2, 'uint', `${buf[pos + 1]} (uint8)`)
    case 0xcd:
      need(3)
      return line(3, 'uint', `${buf.readUInt16BE(pos + 1)} (uint16)`)
    case 0xce:
      need(5)
      return line(5, 'uint', `${buf.readUInt32BE(pos + 1)} (uint32)`)
    case 0xcf:
      need(9)
      return line(9, 'uint', `${buf.readBigUInt64BE(pos + 1)} (uint64)`)
    case 0xd0:
      need(2)
      return line(2, 'int', `${buf.readInt8(pos + 1)} (int8)`)
    case 0xd1:
      need(3)
      return line(3, 'int', `${buf.readInt16BE(pos + 1)} (int16)`)
    case 0xd2:
      need(5)
      return line(5, 'int', `${buf.readInt32BE(pos + 1)} (int32)`)
    case 0xd3:
      need(9)
      return line(9, 'int', `${buf.readBigInt64BE(pos + 1)} (int64)`)
    case 0xd9:
      need(2)
      return str(2, buf[pos + 1]!)
    case 0xda:
      need(3)
      return str(3, buf.readUInt16BE(pos + 1))
    case 0xdb:
      need(5)
      return str(5, buf.readUInt32BE(pos + 1))
    case 0xdc:
      need(3)
      return container(3, buf.readUInt16BE(pos + 1), 'array')
    case 0xdd:
      need(5)
      return container(5, buf.readUInt32BE(pos + 1), 'array')
    case 0xde:
      need(3)
      return container(3, buf.readUInt16BE(pos + 1), 'map')
    case 0xdf:
      need(5)
      return container(5, buf.readUInt32BE(pos + 1), 'map')
    default: {
      // 0xc7-0xc9 and 0xd4-0xd8 are extension types; 0xc1 is never used
      const fixed: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 }
      if (t in fixed) return line(2 + fixed[t]!, 'ext', `ext type ${buf.readInt8(pos + 1)}`)
      if (t >= 0xc7 && t <= 0xc9) {
        const lenBytes = t - 0xc6 === 3 ? 4 : t - 0xc6
        need(1 + lenBytes)
        const n = lenBytes === 1 ? buf[pos + 1]! : lenBytes === 2 ? buf.readUInt16BE(pos + 1) : buf.readUInt32BE(pos + 1)
        return line(2 + lenBytes + n, 'ext', `ext, ${n} bytes`)
      }
      throw new DumpError(`byte 0x${t.toString(16)} at ${pos} is not a MessagePack type`)
    }
  }
}

/** Annotate one MessagePack value spanning all of `buf`. */
export function dumpMsgpack(buf: Buffer, depth = 0, bin?: Walk['bin']): { lines: Line[]; kinds: Set<TokenKind> } {
  const w: Walk = { lines: [], kinds: new Set(), bin }
  const end = walkValue(buf, 0, depth, w)
  if (end !== buf.length) throw new DumpError(`${buf.length - end} bytes after the MessagePack value`)
  return { lines: w.lines, kinds: w.kinds }
}

/** Annotate a records blob; undefined when the bytes are not one. */
export function dumpRecords(blob: Buffer, depth = 0): Line[] | undefined {
  const lines: Line[] = []
  let pos = 0
  let i = 0
  try {
    while (pos < blob.length) {
      if (blob.length - pos < 10) return undefined
      const len = blob.readUInt32BE(pos)
      const end = pos + 4 + len
      const keyLen = blob.readUInt16BE(pos + 4)
      if (end > blob.length || len < 6 || pos + 6 + keyLen + 4 > end) return undefined
      const hdrAt = pos + 6 + keyLen
      const hdrLen = blob.readUInt32BE(hdrAt)
      if (hdrAt + 4 + hdrLen > end) return undefined
      const at = (s: number, e: number, note: string, d = depth + 1): void => {
        if (e > s) lines.push({ depth: d, bytes: blob.subarray(s, e), note })
      }
      lines.push({ depth, bytes: blob.subarray(pos, pos + 4), note: `record ${i}: length ${len}` })
      at(pos + 4, pos + 6, `key length ${keyLen}${keyLen === 0 ? ' (no key)' : ''}`)
      at(pos + 6, hdrAt, `key ${JSON.stringify(blob.toString('utf8', pos + 6, hdrAt))}`)
      at(hdrAt, hdrAt + 4, `headers length ${hdrLen}${hdrLen === 0 ? ' (no headers)' : ''}`)
      if (hdrLen > 0) lines.push(...dumpMsgpack(blob.subarray(hdrAt + 4, hdrAt + 4 + hdrLen), depth + 1).lines)
      at(hdrAt + 4 + hdrLen, end, `payload, ${end - hdrAt - 4 - hdrLen} bytes`)
      pos = end
      i++
    }
  } catch (err) {
    if (err instanceof DumpError) return undefined
    throw err
  }
  return lines.length > 0 ? lines : undefined
}

/** Annotate a whole frame: length, opcode, then the MessagePack body. */
export function dumpFrame(frame: Buffer): Line[] {
  const len = frame.readUInt32BE(0)
  const op = frame[4]!
  const lines: Line[] = [
    { depth: 0, bytes: frame.subarray(0, 4), note: `length ${len} (opcode + body)` },
    { depth: 0, bytes: frame.subarray(4, 5), note: `opcode 0x${op.toString(16).padStart(2, '0')} ${opcodeName(op)}` },
  ]
  if (frame.length > 5) lines.push(...dumpMsgpack(frame.subarray(5), 0, dumpRecords).lines)
  return lines
}

/** Annotate a stored batch: the header of its magic (48 bytes, 44 for magic 1) field by field, then its records. */
export function dumpBatch(batch: Buffer): Line[] {
  const fields: [number, number, string][] = [
    [0, 8, `baseOffset ${batch.readBigUInt64BE(0)}`],
    [8, 12, `length ${batch.readUInt32BE(8)} (bytes after this field)`],
    [12, 16, `crc 0x${batch.readUInt32BE(12).toString(16).padStart(8, '0')}`],
    [16, 17, `magic ${batch[16]}`],
    [17, 18, `attributes ${batch[17]}`],
    [18, 20, `reserved`],
    [20, 24, `count ${batch.readUInt32BE(20)}`],
    [24, 32, `timestamp ${batch.readBigUInt64BE(24)}`],
    [32, 40, `producerId ${batch.readBigUInt64BE(32)}${batch.readBigUInt64BE(32) === 0n ? ' (none)' : ''}`],
    [40, 44, `baseSequence ${batch.readUInt32BE(40)}${batch.readUInt32BE(40) === 0xffffffff ? ' (none)' : ''}`],
  ]
  if (batch[16] === BATCH_MAGIC) fields.push([44, 48, `leaderEpoch ${batch.readUInt32BE(44)}`])
  const lines: Line[] = fields.map(([s, e, note]) => ({ depth: 0, bytes: batch.subarray(s, e), note: `@${s} ${note}` }))
  lines.push(...(dumpRecords(batch.subarray(batchHeaderBytes(batch[16]!))) ?? []))
  return lines
}

const BYTES_PER_ROW = 16

function hexRow(bytes: Buffer): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ')
}

/** Lay lines out as an indented hex column and a note column; long byte runs wrap. */
export function renderLines(lines: Line[]): string {
  const rows: [string, string][] = []
  for (const l of lines) {
    const indent = '  '.repeat(l.depth)
    for (let i = 0; i < Math.max(1, l.bytes.length); i += BYTES_PER_ROW) {
      rows.push([indent + hexRow(l.bytes.subarray(i, i + BYTES_PER_ROW)), i === 0 ? l.note : ''])
    }
  }
  const width = Math.max(...rows.map(([h]) => h.length))
  return rows.map(([h, n]) => (n ? `${h.padEnd(width)}  ${n}` : h)).join('\n')
}
