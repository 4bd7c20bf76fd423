/**
 * The shape check every untrusted MessagePack body passes before msgpackr
 * sees it (codec.ts `unpack`): one forward walk over the MessagePack grammar,
 * so its cost is proportional to the bytes and nothing is allocated.
 *
 * Refused (the protocol never uses them, PROTOCOL.md "MessagePack conventions"):
 *   - extension types: fixext 1/2/4/8/16 (0xd4-0xd8) and ext 8/16/32
 *     (0xc7-0xc9), msgpackr's own (records, BigInt, structured clone) included
 *   - map keys that are not strings
 *   - containers nested deeper than MAX_DEPTH
 *   - the never-used byte 0xc1, a length running past the end, bytes after the value
 *
 * Why a separate pass rather than trusting msgpackr: msgpackr decodes what it
 * is given, and some of it costs more than linear time. A map keyed by an
 * extension-typed BigInt (0x42) makes it build the BigInt and then turn it
 * into a decimal string to use as a property name (asSafeString ->
 * BigInt#toString): binary-to-decimal conversion grows faster than the digits
 * (measured here: 64 KiB 30 ms, 256 KiB 173 ms, 1 MiB 1,005 ms), so one 1 MiB
 * PUBLISH cost the gateway a second per decode. Refusing the grammar the
 * protocol does not use keeps every decode linear in the bytes received.
 */
import { SkiffError } from './errors.js'
import { u16, u32 } from './bytes.js'

/** Containers (maps and arrays) a body may nest; the protocol's deepest body uses 4. */
export const MAX_DEPTH = 32

/**
 * Bytes a value takes when its first byte alone says so: fixints, fixstr,
 * nil, booleans, floats and sized integers; 0 for anything else (containers,
 * values with a length field, extension types, 0xc1), which value() reads.
 * Branches rather than a 256-entry table: arrays of one kind of value (ACK
 * offsets) make them predictable, and the table's load on the path from one
 * value to the next measured 1.5-3x slower.
 */
function scalarSize(tag: number): number {
  if (tag < 0x80) return 1 // positive fixint
  if (tag >= 0xcc && tag <= 0xcf) return 1 + (1 << (tag - 0xcc)) // uint 8/16/32/64
  if (tag >= 0xa0 && tag < 0xc0) return 1 + (tag & 0x1f) // fixstr
  if (tag >= 0xe0) return 1 // negative fixint
  if (tag >= 0xd0 && tag <= 0xd3) return 1 + (1 << (tag - 0xd0)) // int 8/16/32/64
  if (tag === 0xc0 || tag === 0xc2 || tag === 0xc3) return 1 // nil, false, true
  if (tag === 0xca) return 5 // float 32
  if (tag === 0xcb) return 9 // float 64
  return 0
}

/** The bytes being checked, where the walk is, and the name for messages: one walk at a time (it is synchronous). */
let b: Uint8Array = new Uint8Array(0)
let pos = 0
let what = ''
/** Checking an application payload (checkPayload) rather than a protocol body. */
let payload = false

/**
 * Throws BAD_FRAME unless `bytes` is exactly one MessagePack value of the
 * protocol's grammar (see the header comment). `name` names the bytes in the
 * message ("body", "record headers").
 */
export function checkMessagePack(bytes: Uint8Array, name = 'body'): void {
  walk(bytes, name, false)
}

/**
 * The check for an application payload declared as MessagePack (a client's
 * msg.decode()), which may hold what applications put there: extension
 * values (a Date as a timestamp, msgpackr's undefined) and scalar map keys
 * (numbers, booleans, nil; a Python dict keyed by ints). Still refused: map
 * keys that are containers, binaries or extension values (a BigInt key is
 * the quadratic case), nesting past MAX_DEPTH, bad lengths. So a hostile
 * producer cannot make a consumer's decode() super-linear.
 */
export function checkPayload(bytes: Uint8Array): void {
  walk(bytes, 'payload', true)
}

function walk(bytes: Uint8Array, name: string, isPayload: boolean): void {
  b = bytes
  pos = 0
  what = name
  payload = isPayload
  try {
    value(0)
    if (pos !== bytes.length) throw bad(`${bytes.length - pos} bytes follow the value`)
  } finally {
    b = EMPTY // do not keep the caller's bytes alive
  }
}

const EMPTY = new Uint8Array(0)

/** Skip the value at `pos`, inside `depth` containers. Every call moves at least one byte or throws, so the walk is linear. */
function value(depth: number): void {
  const end = b.length
  if (pos >= end) throw bad('truncated')
  const tag = b[pos]!
  const size = scalarSize(tag)
  if (size > 0) {
    pos += size
    if (pos > end) throw bad('a value runs past the end')
    return
  }
  if (tag < 0x90) return container(depth, tag & 0x0f, true, 1) // fixmap
  if (tag < 0xa0) return container(depth, tag & 0x0f, false, 1) // fixarray
  switch (tag) {
    case 0xc4: // bin 8
    case 0xd9: // str 8
      return sized(1)
    case 0xc5:
    case 0xda:
      return sized(2)
    case 0xc6:
    case 0xdb:
      return sized(4)
    case 0xdc: // array 16
      return container(depth, lengthAt(2), false, 3)
    case 0xdd: // array 32
      return container(depth, lengthAt(4), false, 5)
    case 0xde: // map 16
      return container(depth, lengthAt(2), true, 3)
    case 0xdf: // map 32
      return container(depth, lengthAt(4), true, 5)
    case 0xc1:
      throw bad(`byte 0xc1 at ${pos} is not MessagePack`)
    default: // 0xc7-0xc9 ext 8/16/32, 0xd4-0xd8 fixext 1-16: the only tags left
      if (payload) return extension(tag)
      throw bad(`extension type (0x${tag.toString(16)}) at byte ${pos}: the protocol uses none`)
  }
}

/** Skip an extension value (payloads only): fixext 1-16 is a type byte and 2^n data bytes; ext 8/16/32 a length, a type, the data. */
function extension(tag: number): void {
  if (tag >= 0xd4) {
    pos += 2 + (1 << (tag - 0xd4))
  } else {
    const width = tag === 0xc7 ? 1 : tag === 0xc8 ? 2 : 4
    pos += 2 + width + lengthAt(width)
  }
  if (pos > b.length) throw bad('an extension value runs past the end')
}

/** Skip a str or bin whose length field of `width` bytes follows its tag. */
function sized(width: number): void {
  pos += 1 + width + lengthAt(width)
  if (pos > b.length) throw bad('a length runs past the end')
}

/** The big-endian length field of `width` bytes after the tag at `pos`. */
function lengthAt(width: number): number {
  if (pos + width >= b.length) throw bad('truncated')
  return width === 1 ? b[pos + 1]! : width === 2 ? u16(b, pos + 1) : u32(b, pos + 1)
}

/**
 * Skip a map or array of `n` entries whose items start `head` bytes on.
 * Scalars (most items: ACK offsets, field values) are skipped in the loop
 * itself; past the end, value() reports the truncation.
 */
function container(depth: number, n: number, map: boolean, head: number): void {
  pos += head
  if (n === 0) return
  if (depth === MAX_DEPTH) throw bad(`nested deeper than ${MAX_DEPTH} levels`)
  const inner = depth + 1
  const bytes = b
  const end = bytes.length
  if (map) {
    for (let i = 0; i < n; i++) {
      const tag = pos < end ? bytes[pos]! : 0xa0 // a missing key is reported as truncated by value()
      if ((tag & 0xe0) !== 0xa0 && (tag < 0xd9 || tag > 0xdb) && !(payload && scalarSize(tag) > 0)) throw bad(`a map key at byte ${pos} is not a string (type 0x${tag.toString(16)})`)
      value(inner)
      const size = pos < end ? scalarSize(bytes[pos]!) : 0
      if (size > 0) pos += size
      else value(inner)
    }
  } else {
    let at = pos // a local while skipping scalars: the module-level position is slower to touch
    for (let i = 0; i < n; i++) {
      const size = at < end ? scalarSize(bytes[at]!) : 0
      if (size > 0) {
        at += size
      } else {
        pos = at
        value(inner)
        at = pos
      }
    }
    pos = at
  }
  if (pos > end) throw bad('a value runs past the end')
}

function bad(why: string): SkiffError {
  return new SkiffError('BAD_FRAME', `malformed MessagePack ${what}: ${why}`)
}
