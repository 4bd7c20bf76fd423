/**
 * MessagePack configured for untrusted input. Plain maps decode to plain
 * objects (no msgpackr record extension, so any MessagePack library can speak
 * to us); `__proto__` keys are renamed by msgpackr so a frame cannot pollute
 * prototypes; msgpackr checks every declared string/array/map/bin length
 * against the bytes that remain before allocating, so a lying length throws
 * instead of allocating. 64-bit integers decode to numbers: offsets stay below
 * 2^53 for the life of any log.
 *
 * Decoding work is proportional to the bytes, never more: before msgpackr
 * sees a body, checkMessagePack (msgpack-check.ts) walks it once and refuses
 * extension types, non-string map keys and nesting past MAX_DEPTH with
 * BAD_FRAME. The protocol uses none of them, and they are where msgpackr's
 * cost stops being linear (a map keyed by a 1 MiB BigInt cost a second).
 */
import { Packr, Unpackr, type Options } from 'msgpackr'
import { SkiffError } from './errors.js'
import { checkMessagePack, checkPayload } from './msgpack-check.js'

// skipValues: a property whose value is undefined is left out of the map rather
// than written as msgpackr's undefined extension (fixext 0): the wire carries
// no extension types, and an absent optional field reads back as undefined.
// (msgpackr supports the option; its type declarations do not list it yet.)
const packOptions: Options & { skipValues: unknown[] } = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  encodeUndefinedAsNil: false,
  skipValues: [undefined],
}
const packr = new Packr(packOptions)
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false })

export function pack(value: unknown): Buffer {
  return packr.pack(wireIntegers(value))
}

/**
 * msgpackr writes an integer outside the 32-bit range (every ms timestamp,
 * large offsets) as a float64, which strictly typed MessagePack libraries in
 * other languages refuse to read into an integer field. The protocol says
 * integers travel as MessagePack integers, so such numbers are handed to
 * msgpackr as BigInt (written as int64, 0xd3). Containers are copied only
 * when they hold such a number; bodies without one are packed as given.
 */
function wireIntegers(value: unknown): unknown {
  if (typeof value === 'number') {
    return (value > 0xffffffff || value < -0x80000000) && Number.isSafeInteger(value) ? BigInt(value) : value
  }
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const v = value[i]
      const w = wireIntegers(v)
      if (w !== v) (out ??= value.slice())[i] = w
    }
    return out ?? value
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  let out: Record<string, unknown> | undefined
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key]
    const w = wireIntegers(v)
    // defineProperty, not assignment: an own "__proto__" key must stay a key
    if (w !== v) Object.defineProperty((out ??= { ...(value as Record<string, unknown>) }), key, { value: w, enumerable: true, writable: true, configurable: true })
  }
  return out ?? value
}

/**
 * Decode exactly one MessagePack value that spans the whole buffer, after
 * checking it keeps to the protocol's grammar (see the header comment); any
 * fault is BAD_FRAME. `what` names the bytes in the error message. Every
 * frame body and record header goes through this.
 */
export function unpack(buf: Uint8Array, what = 'body'): unknown {
  checkMessagePack(buf, what)
  return decode(buf, what)
}

/**
 * Decode an application payload declared as MessagePack (a client's
 * msg.decode()). Payloads are the application's values, not the protocol's:
 * skiffmq's own payload encoder writes an undefined property as msgpackr's
 * extension 0 and a Date as a timestamp, and other producers may key maps by
 * numbers. So payloads get the looser checkPayload (extension values and
 * scalar keys pass; keys that could make decoding super-linear do not), never
 * the protocol's grammar. Never for a frame body or record headers.
 */
export function unpackPayload(buf: Uint8Array): unknown {
  checkPayload(buf)
  return decode(buf, 'payload')
}

function decode(buf: Uint8Array, what: string): unknown {
  try {
    return unpackr.unpack(buf)
  } catch (err) {
    throw new SkiffError('BAD_FRAME', `malformed MessagePack ${what}: ${(err as Error).message}`, { cause: err })
  }
}
