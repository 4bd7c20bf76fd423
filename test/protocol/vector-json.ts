/**
 * How golden vectors are stored: one JSON file per vector in protocol/vectors/,
 *
 *   { "frame": "HELLO", "opcode": 1, "note": "...", "value": { ... }, "hex": "..." }
 *
 * `hex` is the whole frame on the wire (length, opcode, body) for frames, or
 * the bytes themselves for the RECORDS and BATCH vectors. Bytes inside `value`
 * are written `{ "$bin": "<hex>" }`; absent optional fields are simply absent.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const VECTORS_DIR = fileURLToPath(new URL('../../protocol/vectors/', import.meta.url))
export const SPEC_PATH = fileURLToPath(new URL('../../protocol/PROTOCOL.md', import.meta.url))

export interface Vector {
  frame: string
  opcode?: number
  note?: string
  value: unknown
  hex: string
}

export interface VectorFile extends Vector {
  file: string
}

/** JSON value -> runtime value: `{ "$bin": hex }` becomes a Buffer. */
export function fromJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJson)
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    const keys = Object.keys(o)
    if (keys.length === 1 && keys[0] === '$bin' && typeof o.$bin === 'string') return Buffer.from(o.$bin, 'hex')
    return Object.fromEntries(keys.map((k) => [k, fromJson(o[k])]))
  }
  return v
}

/**
 * Runtime value -> JSON value: bytes become `{ "$bin": hex }`, undefined
 * properties are dropped (a decoder reports an absent optional field as undefined).
 */
export function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') }
  if (Array.isArray(v)) return v.map(toJson)
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, toJson(x)]),
    )
  }
  return v
}

export function vectorFileName(frame: string, variant?: string): string {
  return `${frame.toLowerCase().replace(/_/g, '-')}${variant ? `.${variant}` : ''}.json`
}

export function readVectors(dir = VECTORS_DIR): VectorFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, ...(JSON.parse(readFileSync(dir + file, 'utf8')) as Vector) }))
}

export function formatVector(v: Vector): string {
  return JSON.stringify(v, null, 2) + '\n'
}
