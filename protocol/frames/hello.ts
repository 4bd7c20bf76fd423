/**
 * HELLO (0x01), client -> broker, the first frame of every connection.
 *   versions  uint[]   protocol versions the client speaks
 *   client    string   a name for logs and metrics
 *   token     string?  credentials (ignored without auth)
 *   user      string?  the auth-file user the token belongs to (at most 256
 *                      characters). Needed for users whose file entry holds a
 *                      tokenHash: the broker then runs one scrypt check, for
 *                      that user only. Optional, so older clients keep working
 *                      with plain tokens.
 */
import { Op } from '../opcodes.js'
import { encodeFrame } from '../frame.js'
import { Fields } from '../fields.js'

/**
 * `details.reason` of the UNAUTHORIZED a broker closes a connection with when
 * no valid HELLO came within its auth timeout: the credentials were never
 * judged (a slow or stalled network), so a client tries again rather than
 * giving up as on refused credentials.
 */
export const AUTH_TIMEOUT = 'auth-timeout'

/** Auth-file user names are 1-256 printable characters (broker/auth/auth-file.ts). */
export const MAX_USER_LENGTH = 256

export interface Hello {
  versions: number[]
  client: string
  token?: string | undefined
  user?: string | undefined
}

export function encodeHello(h: Hello): Buffer {
  return encodeFrame(Op.HELLO, {
    versions: h.versions,
    client: h.client,
    ...(h.token !== undefined ? { token: h.token } : {}),
    ...(h.user !== undefined ? { user: h.user } : {}),
  })
}

export function decodeHello(body: Buffer): Hello {
  const f = new Fields('HELLO', body)
  return { versions: f.uintArray('versions', 16), client: f.str('client', 256), token: f.optStr('token', 4096), user: f.optStr('user', MAX_USER_LENGTH) }
}
