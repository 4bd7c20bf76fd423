/**
 * OK (0x06), broker -> client: the success answer to a request that has no
 * reply frame of its own (SUBSCRIBE, UNSUBSCRIBE and the admin frames).
 *   corr    uint   the request this answers
 *   result  any?   the request's result (see each request)
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'

export interface Ok {
  corr: number
  result?: unknown
}

export function encodeOk(corr: number, result?: unknown): Buffer {
  return encodeFrame(Op.OK, result === undefined ? { corr } : { corr, result })
}

export function decodeOk(body: Buffer): Ok {
  const f = new Fields('OK', body)
  return { corr: f.uint('corr'), result: f.raw('result') }
}
