/**
 * Fields of a panel action's JSON body, each checked with a message naming
 * the field (INVALID_REQUEST, shown on the page as it is).
 */
import { SkiffError } from '../../../protocol/index.js'

const MAX_STRING = 1024 * 1024

export function string(body: Record<string, unknown>, field: string): string {
  const v = optionalString(body, field)
  if (v === undefined || v === '') throw new SkiffError('INVALID_REQUEST', `${field} is required`)
  return v
}

export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new SkiffError('INVALID_REQUEST', `${field} must be a string`)
  if (v.length > MAX_STRING) throw new SkiffError('INVALID_REQUEST', `${field} is longer than ${MAX_STRING} characters`)
  return v
}

/** A whole number in [min, max]; a numeric string counts (form fields are text). Empty is absent. */
export function int(body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = body[field]
  if (v === undefined || v === null || v === '') return undefined
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new SkiffError('INVALID_REQUEST', `${field} must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`)
  }
  return n
}
