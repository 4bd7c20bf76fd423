/**
 * Big-endian integer reads straight from the bytes, for the hand-written
 * readers (records, DELIVER): no DataView to allocate per blob, and none of
 * the argument checks Buffer#readUInt32BE makes on every call.
 */

export function u16(b: Uint8Array, pos: number): number {
  return (b[pos]! << 8) | b[pos + 1]!
}

export function u32(b: Uint8Array, pos: number): number {
  return b[pos]! * 0x1000000 + ((b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!)
}
