/**
 * MessagePack written by hand for the hot frames (PUBLISH, DELIVER): the
 * smallest form of each value, as the generic packer in codec.ts writes it
 * (integers past 32 bits as int64, 0xd3), so the golden vectors hold either
 * way. Each writer takes the position and returns the position after it.
 */

/** Bytes of `v` (a non-negative safe integer) in its smallest form. */
export function uintBytes(v: number): number {
  return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v <= 0xffffffff ? 5 : 9
}

export function writeUint(out: Buffer, pos: number, v: number): number {
  if (v < 0x80) {
    out[pos] = v
    return pos + 1
  }
  if (v < 0x100) {
    out[pos] = 0xcc
    out[pos + 1] = v
    return pos + 2
  }
  if (v < 0x10000) {
    out[pos] = 0xcd
    out.writeUInt16BE(v, pos + 1)
    return pos + 3
  }
  if (v <= 0xffffffff) {
    out[pos] = 0xce
    out.writeUInt32BE(v, pos + 1)
    return pos + 5
  }
  out[pos] = 0xd3
  out.writeUInt32BE(Math.floor(v / 0x100000000), pos + 1)
  out.writeUInt32BE(v >>> 0, pos + 5)
  return pos + 9
}

/** Bytes of a length field in MessagePack's 8/16/32-bit forms. */
function lengthBytes(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

/** `tag8` (the 8-bit form's type byte; the 16 and 32-bit forms follow it) and the length `n` in the smallest of those forms. */
function writeLength(out: Buffer, pos: number, n: number, tag8: number): number {
  if (n < 0x100) {
    out[pos] = tag8
    out[pos + 1] = n
    return pos + 2
  }
  if (n < 0x10000) {
    out[pos] = tag8 + 1
    out.writeUInt16BE(n, pos + 1)
    return pos + 3
  }
  out[pos] = tag8 + 2
  out.writeUInt32BE(n, pos + 1)
  return pos + 5
}

export function strHeaderBytes(n: number): number {
  return n < 0x20 ? 1 : lengthBytes(n)
}

/** The header of a string of `n` bytes (the bytes follow). */
export function writeStrHeader(out: Buffer, pos: number, n: number): number {
  if (n < 0x20) {
    out[pos] = 0xa0 | n
    return pos + 1
  }
  return writeLength(out, pos, n, 0xd9) // str8, str16, str32
}

/** A string: header and UTF-8 bytes. */
export function writeStr(out: Buffer, pos: number, s: string): number {
  pos = writeStrHeader(out, pos, Buffer.byteLength(s))
  return pos + out.write(s, pos, 'utf8')
}

export const binHeaderBytes = lengthBytes

/** The header of a bin of `n` bytes (the bytes follow). */
export function writeBinHeader(out: Buffer, pos: number, n: number): number {
  return writeLength(out, pos, n, 0xc4) // bin8, bin16, bin32
}

/** A bin: header and bytes. */
export function writeBin(out: Buffer, pos: number, b: Uint8Array): number {
  pos = writeBinHeader(out, pos, b.length)
  out.set(b, pos)
  return pos + b.length
}

export function writeArrayHeader(out: Buffer, pos: number, n: number): number {
  if (n < 16) {
    out[pos] = 0x90 | n
    return pos + 1
  }
  if (n < 0x10000) {
    out[pos] = 0xdc
    out.writeUInt16BE(n, pos + 1)
    return pos + 3
  }
  out[pos] = 0xdd
  out.writeUInt32BE(n, pos + 1)
  return pos + 5
}
