/**
 * HELLO (0x01), client -> broker, the first frame of every connection.
 *   versions  uint[]   protocol versions the client speaks
 *   client    string   a name for logs and metrics
 *   token     string?  credentials (reserved for the auth feature; ignored without auth)
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'

export interface Hello {
  versions: number[]
  client: string
  token?: string | undefined
}

export function encodeHello(h: Hello): Buffer {
  return encodeFrame(Op.HELLO, { versions: h.versions, client: h.client, ...(h.token !== undefined ? { token: h.token } : {}) })
}

export function decodeHello(body: Buffer): Hello {
  const f = new Fields('HELLO', body)
  return { versions: f.uintArray('versions', 16), client: f.str('client', 256), token: f.optStr('token', 4096) }
}
