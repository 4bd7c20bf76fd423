/**
 * Who a connection is (authentication) and what it may do (authorization).
 *
 * Without an auth file every connection is `anonymous` and may do anything;
 * the broker then refuses to listen beyond loopback unless told to (see
 * exposure.ts). With one, HELLO must carry a token from the file, or the TLS
 * client certificate must name a user of the file.
 *
 * Decisions written down here:
 * - Plain tokens: the SHA-256 of the offered token is compared with every
 *   user's digest by crypto.timingSafeEqual, all of them, without stopping at
 *   a match, so the time taken does not depend on which user (if any) matched
 *   or on how many leading characters were right.
 * - Hashed tokens (scrypt) are checked off the event loop, at most
 *   SCRYPT_CONCURRENCY at a time and SCRYPT_WAITING waiting; past that a HELLO
 *   is refused with TOO_MANY_CONNECTIONS (retriable). A token that verified is
 *   remembered (keyed by an HMAC under a per-process random key, never the
 *   token) so a reconnecting client does not pay scrypt again; a token that
 *   failed is remembered for a minute so a client stuck with a stale token in
 *   a reconnect loop costs nothing. Both memories are dropped on reload.
 * - A certificate that names a user logs in as that user; a token sent as well
 *   must belong to the same user.
 * - Reload swaps the whole table at once. A connection keeps working if its
 *   user still exists with the same credentials (it picks up new permissions
 *   at its next request); if the user is gone, its token changed or it
 *   expired, `check` reports UNAUTHORIZED and the gateway closes it.
 * - Decisions are cached per user entry (a reload makes new entries, so the
 *   cache never outlives the rules it came from).
 */
import crypto from 'node:crypto'
import { SkiffError } from '../../protocol/index.js'
import { digestToken, readAuthFile, type AuthTable, type AuthUser } from './auth-file.js'
import { matchesAny, isPlainName } from './patterns.js'
import { verifyToken } from './token-hash.js'
import { Slots } from './slots.js'

export type Operation = 'publish' | 'subscribe' | 'admin' | 'describe'

export interface Identity {
  readonly user: string
  readonly via: 'token' | 'certificate' | 'anonymous'
  readonly credentialId: string
  /** The user's entry in the table of `generation`; refreshed by check(). */
  entry: AuthUser | undefined
  generation: number
}

const SCRYPT_CONCURRENCY = 2
const SCRYPT_WAITING = 256
const MEMORY_LIMIT = 4096
const FAILED_TTL_MS = 60_000
const DECISIONS_PER_USER = 4096

const VERB: Record<Operation, string> = { publish: 'publish to', subscribe: 'subscribe to', admin: 'administer', describe: 'see' }

export class Authenticator {
  private table: AuthTable = { users: [], byName: new Map() }
  private generation = 0
  private readonly slots = new Slots(SCRYPT_CONCURRENCY, SCRYPT_WAITING)
  private readonly memoryKey = crypto.randomBytes(32)
  private verified = new Map<string, { user: string; credentialId: string }>()
  private failed = new Map<string, number>()
  private readonly decisions = new WeakMap<AuthUser, Map<string, boolean>>()

  /** `authFile` empty = auth off: everyone is anonymous and may do anything. */
  constructor(readonly authFile: string) {
    if (authFile) this.reload()
  }

  get enabled(): boolean {
    return this.authFile !== ''
  }

  /** Re-read the auth file. Throws AuthFileError and keeps the current table when the file is bad. */
  reload(): { users: number } {
    if (!this.enabled) return { users: 0 }
    const table = readAuthFile(this.authFile)
    this.table = table
    this.generation++
    this.verified = new Map()
    this.failed = new Map()
    return { users: table.users.length }
  }

  /** The current users, e.g. for UDP telemetry's HMAC keys (only users with a plain `token` can sign). */
  users(): readonly AuthUser[] {
    return this.table.users
  }

  /** The user entry of `name` as the file says now, or undefined. */
  user(name: string): AuthUser | undefined {
    return this.table.byName.get(name)
  }

  /** Who every client is without an auth file (and may do anything). */
  anonymous(): Identity {
    return { user: 'anonymous', via: 'anonymous', credentialId: '', entry: undefined, generation: this.generation }
  }

  /**
   * The identity for a HELLO's token and the names of a verified client
   * certificate; rejects with UNAUTHORIZED (or TOO_MANY_CONNECTIONS when busy).
   */
  async authenticate(token: string | undefined, certNames: readonly string[] = []): Promise<Identity> {
    if (!this.enabled) return this.anonymous()
    let user: AuthUser | undefined
    let via: Identity['via'] = 'token'
    for (const n of certNames) {
      user = this.table.byName.get(n)
      if (user) {
        via = 'certificate'
        break
      }
    }
    if (user && token !== undefined && token !== '') {
      const owner = await this.findByToken(token)
      if (owner?.name !== user.name) throw new SkiffError('UNAUTHORIZED', `the token does not belong to user ${user.name}, whom the client certificate names`)
    }
    if (!user) {
      if (token === undefined || token === '') throw new SkiffError('UNAUTHORIZED', 'this broker requires a token in HELLO (or a client certificate naming a user)')
      user = await this.findByToken(token)
      if (!user) throw new SkiffError('UNAUTHORIZED', 'the token is not valid')
    }
    const identity: Identity = { user: user.name, via, credentialId: user.credentialId, entry: user, generation: -1 }
    const problem = this.check(identity)
    if (problem) throw problem
    return identity
  }

  /** Why this identity may no longer act (revoked, credentials changed, expired), or undefined. */
  check(identity: Identity, now = Date.now()): SkiffError | undefined {
    if (!this.enabled) return undefined
    if (identity.generation !== this.generation) {
      const user = this.table.byName.get(identity.user)
      if (!user || (identity.via === 'token' && user.credentialId !== identity.credentialId)) {
        identity.entry = undefined
        return new SkiffError('UNAUTHORIZED', `the credentials of user ${identity.user} were revoked`)
      }
      identity.entry = user
      identity.generation = this.generation
    }
    const expiresAt = identity.entry?.expiresAt
    if (expiresAt !== undefined && now >= expiresAt) {
      return new SkiffError('UNAUTHORIZED', `the credentials of user ${identity.user} expired at ${new Date(expiresAt).toISOString()}`)
    }
    return undefined
  }

  permits(identity: Identity, op: Operation, topic: string): boolean {
    if (!this.enabled) return true
    const user = identity.entry
    if (!user) return false
    if (op === 'admin') return user.admin
    if (op === 'describe') return user.admin || this.permits(identity, 'publish', topic) || this.permits(identity, 'subscribe', topic)
    let cache = this.decisions.get(user)
    if (!cache) this.decisions.set(user, (cache = new Map()))
    const key = op === 'publish' ? 'p' + topic : 's' + topic
    let ok = cache.get(key)
    if (ok === undefined) {
      const perm = user[op]
      ok = isPlainName(topic) && matchesAny(perm.allow, topic) && !matchesAny(perm.deny, topic)
      if (cache.size >= DECISIONS_PER_USER) cache.clear()
      cache.set(key, ok)
    }
    return ok
  }

  /** Throws FORBIDDEN naming the user, the operation and the topic. */
  authorize(identity: Identity, op: Operation, topic: string): void {
    if (this.permits(identity, op, topic)) return
    throw new SkiffError('FORBIDDEN', `user ${identity.user} may not ${VERB[op]} topic ${topic}`, { details: { user: identity.user, operation: op, topic } })
  }

  private async findByToken(token: string): Promise<AuthUser | undefined> {
    const table = this.table
    const digest = digestToken(token)
    let found: AuthUser | undefined
    for (const u of table.users) {
      // No early exit: every user's digest is compared.
      if (u.tokenDigest && crypto.timingSafeEqual(u.tokenDigest, digest)) found = u
    }
    if (found) return found
    const hashed = table.users.filter((u) => u.tokenHash)
    if (hashed.length === 0) return undefined

    const key = crypto.createHmac('sha256', this.memoryKey).update(token, 'utf8').digest('base64')
    const known = this.verified.get(key)
    if (known) {
      const u = table.byName.get(known.user)
      if (u && u.credentialId === known.credentialId) return u
    }
    const failedUntil = this.failed.get(key)
    if (failedUntil !== undefined && failedUntil > Date.now()) return undefined

    for (const u of hashed) {
      const check = this.slots.run(() => verifyToken(token, u.tokenHash!))
      if (!check) throw new SkiffError('TOO_MANY_CONNECTIONS', 'too many logins are being checked; try again shortly')
      if (await check) {
        if (table !== this.table) return this.findByToken(token) // reloaded meanwhile: decide against the new file
        remember(this.verified, key, { user: u.name, credentialId: u.credentialId })
        return u
      }
    }
    if (table === this.table) remember(this.failed, key, Date.now() + FAILED_TTL_MS)
    return undefined
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MEMORY_LIMIT) map.delete(map.keys().next().value!)
  map.set(key, value)
}
