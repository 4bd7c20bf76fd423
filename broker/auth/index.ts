/**
 * Authentication, authorization, TLS and connection limits for the broker.
 * See SECURITY.md for the threat model and what each setting protects.
 */
export { Authenticator, type Identity, type Operation } from './authenticator.js'
export { AuthFileError, parseAuthTable, readAuthFile, type AuthUser, type AuthTable, type Permission } from './auth-file.js'
export { compilePattern, matches, matchesAny, isPlainName, patternProblem, type Pattern } from './patterns.js'
export { hashToken, verifyToken, parseTokenHash, generateToken, DEFAULT_SCRYPT, type ScryptParams } from './token-hash.js'
export { ConnectionLimiter } from './connection-limiter.js'
export { TlsAcceptor, tlsEnabled, secureContextOptions } from './tls-acceptor.js'
export { certificateNames } from './cert-names.js'
export { securityConfigProblem, anonymousExposure, isLoopback } from './config-check.js'
export { reloadSecurity } from './reload.js'
export { requireAccess, mayAccess, checkTopicLimit, checkPartitionLimit, checkSubscriptionLimit } from './guard.js'

import type { Authenticator, Identity } from './authenticator.js'

export interface TelemetryKey {
  /** The user the datagram speaks for. */
  user: string
  /** The HMAC key: the user's token as UTF-8 bytes. */
  key: Buffer
  /** The identity to authorize the datagram's topic with (`auth.authorize(identity, 'publish', topic)`). */
  identity: Identity
}

/**
 * The keys UDP telemetry checks datagram HMACs with, read from the current
 * auth file at each call (so a SIGHUP reload applies at once). Only users
 * with a plain `token` can sign datagrams: a `tokenHash` user's token is not
 * known to the broker. Empty when auth is off (datagrams need no HMAC then).
 */
export function telemetryKeys(auth: Authenticator): TelemetryKey[] {
  if (!auth.enabled) return []
  const out: TelemetryKey[] = []
  for (const u of auth.users()) {
    if (u.token === undefined) continue
    out.push({ user: u.name, key: Buffer.from(u.token, 'utf8'), identity: { user: u.name, via: 'token', credentialId: u.credentialId, entry: u, generation: -1 } })
  }
  return out
}
