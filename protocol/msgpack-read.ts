/**
 * MessagePack read by hand for the hot frames (PUBLISH, DELIVER), beside the
 * writers in frames/msgpack-write.ts. Each frame's reader walks the forms its
 * encoder writes and gives up at the first thing it does not expect; the
 * frame then goes to the general path (codec.ts, fields.ts), which accepts it
 * or words the error. So these readers only recognise good values: none
 * throws.
 *
 * The position lives in a Cursor the caller makes for one body and passes to
 * every reader. Each reader reads the value at `c.pos`: when it is of the kind
 * asked for and lies wholly inside `c.buf`, it moves `c.pos` past it and
 * returns it (a str or bin: the start of its bytes, which end at the new
 * `c.pos`); otherwise it returns -1 (false for readKey) and leaves `c.pos`
 * where it was.
 *
 * Speed: these run once per field of every PUBLISH the broker receives and
 * every message a consumer receives. Each reader copies `c.buf` and `c.pos`
 * into locals and writes `c.pos` back once; the one-byte forms (positive
 * fixint, fixstr, fixmap, fixarray) are read first, the wider forms' values
 * in functions that take the bytes and a position, not the cursor. The
 * cursor keeps exactly two fields, set in its constructor, so every reader
 * sees one shape. What matters most (measured with callgrind and
 * --trace-turbo-inlining, bench/README.md): a cursor that V8 sees handed
 * only to functions it inlines lives in registers; handed once to a call it
 * does not inline (its inlining budget is ~920 bytecodes per function), it
 * lives in memory and every reader pays for it. Hence small readers, the
 * checked/unchecked pair readUint and nextUint, skipUints for a run of
 * integers, and callers that keep once-per-frame reads on a cursor of their
 * own (deliver.ts walkDeliver).
 */
import { u16, u32 } from './bytes.js'

/** The bytes being read and where the next value starts. */
export class Cursor {
  // Declared only: a class field would first be defined as undefined, and V8
  // would then no longer know `buf` holds a Buffer wherever it is read.
  declare buf: Buffer
  declare pos: number
  constructor(buf: Buffer, pos = 0) {
    this.buf = buf
    this.pos = pos
  }
}

/** Largest high word of a 64-bit integer that keeps it a safe integer (below 2^53). */
const MAX_SAFE_HIGH = 0x1fffff

/** Bytes of each integer form readUint takes, by type byte; 0 for every other type. */
const UINT_BYTES = new Uint8Array(256)
UINT_BYTES.fill(1, 0, 0x80) // positive fixint
UINT_BYTES[0xcc] = 2 // uint 8
UINT_BYTES[0xcd] = 3 // uint 16
UINT_BYTES[0xce] = 5 // uint 32
UINT_BYTES[0xcf] = 9 // uint 64
UINT_BYTES[0xd3] = 9 // int 64, how the generic packer writes values past 32 bits

/**
 * A non-negative integer up to Number.MAX_SAFE_INTEGER: positive fixint,
 * uint 8/16/32/64, or int 64; -1 for anything else, negative or larger
 * values included.
 */
export function readUint(c: Cursor): number {
  const b = c.buf
  const pos = c.pos
  const tag = pos < b.length ? b[pos]! : 0xc1 // 0xc1: never used, read as no integer
  if (tag < 0x80) {
    c.pos = pos + 1
    return tag
  }
  const v = wideUint(b, pos, tag)
  if (v >= 0) c.pos = pos + UINT_BYTES[tag]!
  return v
}

/** The integer of a wider form than fixint (uint 8/16/32/64, int 64) whose type byte `tag` is at `pos`; -1 as readUint. */
function wideUint(b: Buffer, pos: number, tag: number): number {
  const n = UINT_BYTES[tag]!
  if (n === 0 || pos + n > b.length) return -1
  if (n === 2) return b[pos + 1]!
  if (n === 3) return (b[pos + 1]! << 8) | b[pos + 2]!
  const hi = u32(b, pos + 1)
  if (n === 5) return hi
  // 64 bits: the high word keeps the value a safe integer (and, for int 64, non-negative).
  return hi > MAX_SAFE_HIGH ? -1 : hi * 0x100000000 + u32(b, pos + 5)
}

/**
 * Moves past `count` integers of the forms readUint reads, without computing
 * them: true, or false (c.pos unmoved) where readUint would return -1 for
 * one of them. For a first pass that checks a frame and a second that reads it.
 */
export function skipUints(c: Cursor, count: number): boolean {
  const b = c.buf
  const end = b.length
  let pos = c.pos
  for (let i = 0; i < count; i++) {
    if (pos >= end) return false
    const n = UINT_BYTES[b[pos]!]!
    if (n === 0 || pos + n > end || (n === 9 && u32(b, pos + 1) > MAX_SAFE_HIGH)) return false
    pos += n
  }
  c.pos = pos
  return true
}

/**
 * readUint for bytes already checked (by skipUints or readUint in a first
 * pass): the same value, without the checks.
 */
export function nextUint(c: Cursor): number {
  const b = c.buf
  const pos = c.pos
  const tag = b[pos]!
  if (tag < 0x80) {
    c.pos = pos + 1
    return tag
  }
  c.pos = pos + UINT_BYTES[tag]!
  return checkedWideUint(b, pos, tag)
}

function checkedWideUint(b: Buffer, pos: number, tag: number): number {
  if (tag === 0xcc) return b[pos + 1]!
  if (tag === 0xcd) return u16(b, pos + 1)
  if (tag === 0xce) return u32(b, pos + 1)
  return u32(b, pos + 1) * 0x100000000 + u32(b, pos + 5)
}

/** A str (fixstr, str 8/16/32): the start of its bytes, which end at the new c.pos; -1 for anything else. */
export function readStr(c: Cursor): number {
  const b = c.buf
  const pos = c.pos
  const tag = pos < b.length ? b[pos]! : 0
  if ((tag & 0xe0) !== 0xa0) return readSized(c, tag - 0xd9) // str 8, str 16, str 32
  const end = pos + 1 + (tag & 0x1f)
  if (end > b.length) return -1
  c.pos = end
  return pos + 1
}

/** A bin (bin 8/16/32): the start of its bytes, which end at the new c.pos; -1 for anything else. */
export function readBin(c: Cursor): number {
  const b = c.buf
  const pos = c.pos
  return readSized(c, pos < b.length ? b[pos]! - 0xc4 : -1) // bin 8, bin 16, bin 32
}

/**
 * A value whose type byte is followed by a length of 1, 2 or 4 bytes (`w` 0,
 * 1, 2) and then that many bytes: the start of those bytes; -1 for any other
 * `w` or a value running past the end.
 */
function readSized(c: Cursor, w: number): number {
  const b = c.buf
  const pos = c.pos
  if (w < 0 || w > 2) return -1
  const start = pos + 1 + (1 << w)
  if (start > b.length) return -1
  const end = start + lengthAt(b, pos + 1, w)
  if (end > b.length) return -1
  c.pos = end
  return start
}

/** The big-endian length of 1, 2 or 4 bytes (`w` 0, 1, 2) at `pos`. */
function lengthAt(b: Buffer, pos: number, w: number): number {
  return w === 0 ? b[pos]! : w === 1 ? u16(b, pos) : u32(b, pos)
}

/** A map header (fixmap, map 16/32): how many entries follow; -1 for anything else. */
export function readMapHeader(c: Cursor): number {
  return readCount(c, 0x80, 0xde)
}

/** An array header (fixarray, array 16/32): how many items follow; -1 for anything else. */
export function readArrayHeader(c: Cursor): number {
  return readCount(c, 0x90, 0xdc)
}

/**
 * A container header: the fix form's type bytes are fix..fix+15, the 16 and
 * 32-bit forms' tag16 and tag16 + 1. The fix form is read here, the others in
 * a function that does not take the cursor (so that, inlined or not, it does
 * not make V8 keep the cursor as an object in memory).
 */
function readCount(c: Cursor, fix: number, tag16: number): number {
  const b = c.buf
  const pos = c.pos
  const tag = pos < b.length ? b[pos]! : 0
  if ((tag & 0xf0) === fix) {
    c.pos = pos + 1
    return tag & 0x0f
  }
  const w = tag - tag16 // 0: a 16-bit count, 1: a 32-bit one
  const n = longCount(b, pos, w)
  if (n >= 0) c.pos = pos + 3 + 2 * w
  return n
}

/** A 16-bit (`w` 0) or 32-bit (`w` 1) count after the type byte at `pos`; -1 for any other `w` or past the end. */
function longCount(b: Buffer, pos: number, w: number): number {
  if (w === 0) return pos + 3 <= b.length ? u16(b, pos + 1) : -1
  if (w === 1) return pos + 5 <= b.length ? u32(b, pos + 1) : -1
  return -1
}

/** The exact bytes of `key` (a map key as written, e.g. a fixstr) at c.pos: true, and c.pos moved past them. */
export function readKey(c: Cursor, key: Buffer): boolean {
  if (!bytesAt(c.buf, c.pos, key)) return false
  c.pos += key.length
  return true
}

/** Which of `keys` (see readKey) is at c.pos, c.pos moved past it; -1 for none. */
export function readKeyOf(c: Cursor, keys: readonly Buffer[]): number {
  const b = c.buf
  const pos = c.pos
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!
    if (bytesAt(b, pos, key)) {
      c.pos = pos + key.length
      return k
    }
  }
  return -1
}

function bytesAt(b: Buffer, pos: number, bytes: Buffer): boolean {
  const n = bytes.length
  if (pos + n > b.length) return false
  for (let i = 0; i < n; i++) if (b[pos + i] !== bytes[i]) return false
  return true
}
