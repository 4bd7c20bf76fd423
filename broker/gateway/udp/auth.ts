/**
 * Who may send telemetry. With authentication configured (the auth file of
 * the security work), a datagram must be signed: it names a user and carries
 * HMAC-SHA256 over its bytes keyed with that user's token. Without it,
 * datagrams need no signature, and a signature that is present is not
 * checked (as a TCP HELLO's token is ignored then).
 *
 * The check takes the token set as an argument so the auth layer can plug in
 * its own (reloaded on SIGHUP) without this module knowing its file format.
 * An HMAC proves who sent the datagram and that it was not changed; it does
 * not prove freshness (a captured datagram can be replayed), which is the
 * usual trade for fire-and-forget telemetry.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Datagram } from './datagram.js'

export interface UdpAuth {
  /** The token of `user`, or undefined when there is no such user (or it has no plain token). */
  tokenOf(user: string): string | Uint8Array | undefined
  /** May `user` publish to `topic`? Absent = every known user may. */
  mayPublish?(user: string, topic: string): boolean
}

export type AuthVerdict = 'ok' | 'unauthorized' | 'forbidden'

export function datagramHmac(token: string | Uint8Array, bytes: Uint8Array): Buffer {
  return createHmac('sha256', token).update(bytes).digest()
}

export function checkDatagramAuth(d: Datagram, auth: UdpAuth | undefined): AuthVerdict {
  if (!auth) return 'ok'
  if (!d.user || !d.signedBytes || !d.mac) return 'unauthorized'
  const token = auth.tokenOf(d.user)
  if (token === undefined) return 'unauthorized'
  const expected = datagramHmac(token, d.signedBytes)
  if (d.mac.length !== expected.length || !timingSafeEqual(d.mac, expected)) return 'unauthorized'
  if (auth.mayPublish && !auth.mayPublish(d.user, d.topic)) return 'forbidden'
  return 'ok'
}
