/**
 * Checked reading of a decoded MessagePack body. Every frame module reads its
 * fields through this, so a missing or mistyped field is always an
 * INVALID_REQUEST naming the frame and the field, never a TypeError.
 */
import { SkiffError } from './errors.js'
import { unpack } from './codec.js'

/**
 * The `corr` of the body decoded last (by Fields or a frame's own reader), so
 * that the broker can answer a request that failed after decoding with its
 * corr without decoding the body a second time: that second decode used to
 * double the cost of every refused frame, hostile ones included. The broker
 * forgets it before a handler runs and takes it right after the handler's
 * synchronous part, where every handler decodes its body.
 */
let lastCorr: number | undefined

/** Remember `corr` when it is a valid correlation id (a non-negative safe integer). */
export function noteCorr(corr: unknown): void {
  lastCorr = typeof corr === 'number' && Number.isSafeInteger(corr) && corr >= 0 ? corr : undefined
}

/** The corr noted since the last call, if any; forgets it. */
export function takeCorr(): number | undefined {
  const corr = lastCorr
  lastCorr = undefined
  return corr
}

export class Fields {
  private readonly obj: Record<string, unknown>

  constructor(
    readonly frame: string,
    body: Uint8Array,
  ) {
    const value = body.length === 0 ? {} : unpack(body)
    if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) {
      throw new SkiffError('BAD_FRAME', `${frame} body is not a MessagePack map`)
    }
    this.obj = value as Record<string, unknown>
    noteCorr(this.obj.corr)
  }

  has(name: string): boolean {
    return this.obj[name] !== undefined && this.obj[name] !== null
  }

  raw(name: string): unknown {
    return this.obj[name]
  }

  uint(name: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.obj[name]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw this.bad(name, `an integer in 0..${max}`)
    return v
  }

  optUint(name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
    return this.has(name) ? this.uint(name, max) : undefined
  }

  str(name: string, maxLength = 4096): string {
    const v = this.obj[name]
    if (typeof v !== 'string' || v.length > maxLength) throw this.bad(name, `a string of at most ${maxLength} characters`)
    return v
  }

  optStr(name: string, maxLength = 4096): string | undefined {
    return this.has(name) ? this.str(name, maxLength) : undefined
  }

  bool(name: string, fallback: boolean): boolean {
    if (!this.has(name)) return fallback
    const v = this.obj[name]
    if (typeof v !== 'boolean') throw this.bad(name, 'a boolean')
    return v
  }

  /** An optional array of at most `maxItems` strings, each at most `maxLength` characters. */
  optStrArray(name: string, maxItems: number, maxLength: number): string[] | undefined {
    if (!this.has(name)) return undefined
    const v = this.obj[name]
    if (!Array.isArray(v) || v.length > maxItems) throw this.bad(name, `an array of at most ${maxItems} strings`)
    for (const x of v) if (typeof x !== 'string' || x.length > maxLength) throw this.bad(name, `an array of strings of at most ${maxLength} characters`)
    return v as string[]
  }

  bin(name: string): Buffer {
    const v = this.obj[name]
    if (!(v instanceof Uint8Array)) throw this.bad(name, 'binary')
    return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  }

  uintArray(name: string, maxItems: number): number[] {
    const v = this.obj[name]
    if (!Array.isArray(v) || v.length > maxItems) throw this.bad(name, `an array of at most ${maxItems} integers`)
    for (const x of v) if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) throw this.bad(name, 'an array of non-negative integers')
    return v as number[]
  }

  /** An integer or an array of integers (compact forms in replies). */
  uintOrArray(name: string, maxItems: number): number | number[] {
    return Array.isArray(this.obj[name]) ? this.uintArray(name, maxItems) : this.uint(name)
  }

  oneOf<T extends string>(name: string, values: readonly T[], fallback?: T): T {
    if (!this.has(name) && fallback !== undefined) return fallback
    const v = this.obj[name]
    if (typeof v !== 'string' || !values.includes(v as T)) throw this.bad(name, `one of ${values.join(', ')}`)
    return v as T
  }

  private bad(name: string, want: string): SkiffError {
    return new SkiffError('INVALID_REQUEST', `${this.frame}.${name} must be ${want}`)
  }
}
