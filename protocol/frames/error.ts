/**
 * ERROR (0x05), broker -> client.
 *   corr     uint?    the request this answers; absent for connection-level errors
 *   code     uint     stable code from protocol/errors.ts
 *   name     string   the code's name (BAD_FRAME, ...)
 *   message  string   human text
 *   details  map?     extra facts (topic, limits, ...)
 * A fatal code (see the table) is followed by the broker closing the connection.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'
import { SkiffError } from '../errors.js'

export interface ErrorBody {
  corr?: number | undefined
  code: number
  name: string
  message: string
  details?: Record<string, unknown> | undefined
}

export function encodeError(err: SkiffError, corr?: number): Buffer {
  const body: Record<string, unknown> = { code: err.wireCode, name: err.code, message: err.message }
  if (corr !== undefined) body.corr = corr
  if (err.details) body.details = err.details
  return encodeFrame(Op.ERROR, body)
}

export function decodeError(body: Buffer): ErrorBody {
  const f = new Fields('ERROR', body)
  const details = f.raw('details')
  return {
    corr: f.optUint('corr'),
    code: f.uint('code'),
    name: f.str('name', 64),
    message: f.str('message', 65536),
    details: details && typeof details === 'object' && !Array.isArray(details) ? (details as Record<string, unknown>) : undefined,
  }
}
