/**
 * MessagePack configured for untrusted input. Plain maps decode to plain
 * objects (no msgpackr record extension, so any MessagePack library can speak
 * to us); `__proto__` keys are renamed by msgpackr so a frame cannot pollute
 * prototypes; msgpackr checks every declared string/array/map/bin length
 * against the bytes that remain before allocating, so a lying length throws
 * instead of allocating. 64-bit integers decode to numbers: offsets stay below
 * 2^53 for the life of any log.
 */
import { Packr, Unpackr } from 'msgpackr'
import { SkiffError } from './errors.js'

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, encodeUndefinedAsNil: false })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false })

export function pack(value: unknown): Buffer {
  return packr.pack(value)
}

/** Decode exactly one MessagePack value that spans the whole buffer. */
export function unpack(buf: Uint8Array): unknown {
  try {
    return unpackr.unpack(buf)
  } catch (err) {
    throw new SkiffError('BAD_FRAME', `malformed MessagePack body: ${(err as Error).message}`, { cause: err })
  }
}
