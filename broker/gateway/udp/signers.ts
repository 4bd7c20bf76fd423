/**
 * What UDP telemetry asks of the auth layer (auth.ts beside this file): the
 * token a datagram's user signs with, and whether that user may publish to
 * the datagram's topic. Read from the current auth file at each datagram, so
 * a SIGHUP reload applies at once.
 *
 * Only users with a plain `token` can sign datagrams: a `tokenHash` user's
 * token is not known to the broker, so its datagrams are refused. An expired
 * user's datagrams are refused too. Without an auth file there is nothing to
 * check (undefined).
 */
import type { Authenticator, Identity } from '../../auth/authenticator.js'
import type { UdpAuth } from './auth.js'

export function udpAuthOf(auth: Authenticator): UdpAuth | undefined {
  if (!auth.enabled) return undefined
  const current = (name: string) => {
    const u = auth.user(name)
    return u && (u.expiresAt === undefined || Date.now() < u.expiresAt) ? u : undefined
  }
  return {
    tokenOf: (name) => current(name)?.token,
    mayPublish: (name, topic) => {
      const u = current(name)
      if (!u) return false
      const identity: Identity = { user: u.name, via: 'token', credentialId: u.credentialId, entry: u, generation: -1 }
      return auth.permits(identity, 'publish', topic)
    },
  }
}
