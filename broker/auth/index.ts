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
export { requireAccess, mayAccess, unreadableOrigin, checkPartitionLimit, checkSubscriptionLimit } from './guard.js'
/** maxTopics is enforced by the gateway's TopicRegistry (gateway/topics.ts), where topics are created. */
