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
 *   or on how many leading characters were right. When HELLO names a user,
 *   the token must be that user's.
 * - Hashed tokens (scrypt) cost about 0.1 s of a thread-pool thread each, so
 *   an attempt may cost AT MOST ONE scrypt, and only for the user HELLO names
 *   (HELLO.user). A HELLO that names no user and whose token is no plain token
 *   is refused at once, without scrypt, saying that tokenHash users must be
 *   named. A name that is not in the file, or a user without a tokenHash,
 *   costs no scrypt either, and gets the same answer as a wrong token so the
 *   answer does not tell which names exist (the time does: a named hashed
 *   user takes one scrypt longer to refuse; user names are not secrets here).
 * - Hashed checks run off the event loop, at most SCRYPT_CONCURRENCY at a time
 *   and SCRYPT_WAITING waiting broker-wide, and at most 4 queued-or-running
 *   per client address (login-budget.ts); past either a HELLO is refused with
 *   TOO_MANY_CONNECTIONS (retriable). A check waits with the HELLO's
 *   AbortSignal: when the socket closes first it leaves the wait list and
 *   never runs.
 * - Before any of that, the address's failed-login rate is checked
 *   (maxFailedLoginsPerIp, login-budget.ts); every UNAUTHORIZED outcome, plain
 *   or hashed, counts against it. A check dropped because its socket closed
 *   cost nothing and does not count.
 * - A (user, token) pair that verified is remembered (keyed by an HMAC under a
 *   per-process random key, never the token) so a reconnecting client does not
 *   pay scrypt again; one that failed is remembered for a minute so a client
 *   stuck with a stale token in a reconnect loop costs nothing. Keying by the
 *   pair keeps one user's memory from answering for another. Both memories
 *   are bounded and dropped on reload.
 * - A certificate that names a user logs in as that user; a token sent as well
 *   must belong to the same user, and a user named in HELLO must be that user.
 *   Which certificate fields may name a user is the caller's choice
 *   (tlsUserFields, cert-names.ts).
 * - Reload swaps the whole table at once. A connection keeps working if its
 *   user still exists with the same credentials (it picks up new permissions
 *   at its next request); if the user is gone, its token changed or it
 *   expired, `check` reports UNAUTHORIZED and the gateway closes it. A hashed
 *   check that ends after a reload stands only if the user's credentials did
 *   not change meanwhile (no second scrypt).
 * - Decisions are cached per user entry (a reload makes new entries, so the
 *   cache never outlives the rules it came from).
 */
import crypto from 'node:crypto'
import { SkiffError } from '../../protocol/index.js'
import { DEFAULTS } from '../config.js'
import { digestToken, readAuthFile, type AuthTable, type AuthUser } from './auth-file.js'
import { matchesAny, isPlainName } from './patterns.js'
import { verifyToken } from './token-hash.js'
import { JobCancelled, Slots } from './slots.js'
import { LoginBudget } from './login-budget.js'

export type Operation = 'publish' | 'subscribe' | 'admin' | 'describe'

export interface Identity {
  readonly user: string
  readonly via: 'token' | 'certificate' | 'anonymous'
  readonly credentialId: string
  /** The user's entry in the table of `generation`; refreshed by check(). */
  entry: AuthUser | undefined
  generation: number
}

/** What a login attempt brings besides the token. */
export interface LoginAttempt {
  /** Names from a verified client certificate, in the order they may name a user (cert-names.ts). */
  certNames?: readonly string[] | undefined
  /** HELLO.user (or the HTTP Basic user name): the user the token belongs to. */
  user?: string | undefined
  /** The client's address, for the per-address login budget. */
  ip?: string | undefined
  /** Aborted when the client goes away: a hash check still waiting is dropped. */
  signal?: AbortSignal | undefined
}

/** Counts for the metrics (observability/metrics.ts). */
export interface LoginStats {
  accepted: number
  unauthorized: number
  /** Refused by a per-address or broker-wide login limit (TOO_MANY_CONNECTIONS). */
  limited: number
  /** scrypt checks started, and checks dropped unrun because their client went away. */
  hashChecks: number
  hashChecksDropped: number
}

export interface AuthenticatorOptions {
  /** Failed logins per minute per address before its HELLOs are refused for a while; 0 = no limit. */
  maxFailedLoginsPerIp?: number
}

const SCRYPT_CONCURRENCY = 2
const SCRYPT_WAITING = 256
const MEMORY_LIMIT = 4096
const FAILED_TTL_MS = 60_000
const DECISIONS_PER_USER = 4096

const NOT_VALID = 'the token is not valid'
const NOT_VALID_UNNAMED = `${NOT_VALID} (a user whose auth-file entry holds a tokenHash must also be named in HELLO: connect(url, { user, token }), --user or SKIFF_USER)`

const VERB: Record<Operation, string> = { publish: 'publish to', subscribe: 'subscribe to', admin: 'administer', describe: 'see' }

export class Authenticator {
  private table: AuthTable = { users: [], byName: new Map() }
  private generation = 0
  private readonly slots = new Slots(SCRYPT_CONCURRENCY, SCRYPT_WAITING)
  private readonly budget: LoginBudget
  private readonly memoryKey = crypto.randomBytes(32)
  /** HMAC(user, token) -> the credentialId it verified against. */
  private verified = new Map<string, string>()
  /** HMAC(user, token) -> until when it is known to be wrong. */
  private failed = new Map<string, number>()
  private readonly decisions = new WeakMap<AuthUser, Map<string, boolean>>()
  private readonly counts = { accepted: 0, unauthorized: 0, limited: 0 }

  /** `authFile` empty = auth off: everyone is anonymous and may do anything. */
  constructor(
    readonly authFile: string,
    opts: AuthenticatorOptions = {},
  ) {
    const rate = opts.maxFailedLoginsPerIp ?? DEFAULTS.maxFailedLoginsPerIp
    this.budget = new LoginBudget(() => rate)
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

  stats(): LoginStats {
    return { ...this.counts, hashChecks: this.slots.started, hashChecksDropped: this.slots.cancelled }
  }

  /** Who every client is without an auth file (and may do anything). */
  anonymous(): Identity {
    return { user: 'anonymous', via: 'anonymous', credentialId: '', entry: undefined, generation: this.generation }
  }

  /**
   * The identity for a HELLO's token, user name and verified client
   * certificate names; rejects with UNAUTHORIZED, or TOO_MANY_CONNECTIONS when
   * the client's address is over its login budget or the broker is busy
   * checking other logins.
   */
  async authenticate(token: string | undefined, attempt: LoginAttempt = {}): Promise<Identity> {
    if (!this.enabled) return this.anonymous()
    try {
      this.budget.admit(attempt.ip)
      const identity = await this.identify(token === '' ? undefined : token, attempt)
      this.counts.accepted++
      return identity
    } catch (err) {
      if (err instanceof JobCancelled) throw new SkiffError('UNAUTHORIZED', 'the client went away before its login was checked')
      if (err instanceof SkiffError && err.codeName === 'UNAUTHORIZED') {
        this.counts.unauthorized++
        this.budget.failed(attempt.ip)
      } else if (err instanceof SkiffError && err.codeName === 'TOO_MANY_CONNECTIONS') {
        this.counts.limited++
      }
      throw err
    }
  }

  private async identify(token: string | undefined, attempt: LoginAttempt): Promise<Identity> {
    const named = attempt.user
    let user: AuthUser | undefined
    let via: Identity['via'] = 'token'
    for (const n of attempt.certNames ?? []) {
      user = this.table.byName.get(n)
      if (user) {
        via = 'certificate'
        break
      }
    }
    if (user) {
      if (named !== undefined && named !== user.name) throw new SkiffError('UNAUTHORIZED', `HELLO names user ${named}, but the client certificate names user ${user.name}`)
      if (token !== undefined && (await this.findByToken(token, user.name, attempt))?.name !== user.name) {
        throw new SkiffError('UNAUTHORIZED', `the token does not belong to user ${user.name}, whom the client certificate names`)
      }
    } else {
      if (token === undefined) throw new SkiffError('UNAUTHORIZED', 'this broker requires a token in HELLO (or a client certificate naming a user)')
      user = await this.findByToken(token, named, attempt)
      if (!user) throw new SkiffError('UNAUTHORIZED', named === undefined ? NOT_VALID_UNNAMED : NOT_VALID)
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
    // A monitor sees every topic and group, like an admin, and may change nothing.
    if (op === 'describe') return user.admin || user.monitor || this.permits(identity, 'publish', topic) || this.permits(identity, 'subscribe', topic)
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

  /** May see the whole broker read-only (the HTTP panel and /api): admin or monitor. */
  mayMonitor(identity: Identity): boolean {
    if (!this.enabled) return true
    return identity.entry?.admin === true || identity.entry?.monitor === true
  }

  /** Throws FORBIDDEN naming the user, the operation and the topic. */
  authorize(identity: Identity, op: Operation, topic: string): void {
    if (this.permits(identity, op, topic)) return
    throw new SkiffError('FORBIDDEN', `user ${identity.user} may not ${VERB[op]} topic ${topic}`, { details: { user: identity.user, operation: op, topic } })
  }

  /** The user `token` proves, or undefined; with `named`, only that user counts. At most one scrypt. */
  private async findByToken(token: string, named: string | undefined, attempt: LoginAttempt): Promise<AuthUser | undefined> {
    const table = this.table
    const digest = digestToken(token)
    let found: AuthUser | undefined
    for (const u of table.users) {
      // No early exit: every user's digest is compared.
      if (u.tokenDigest && crypto.timingSafeEqual(u.tokenDigest, digest)) found = u
    }
    if (found) return named === undefined || found.name === named ? found : undefined
    if (named === undefined) return undefined
    const user = table.byName.get(named)
    // An unknown name, a plain-token user whose digest did not match, a certificate-only user: no scrypt.
    if (!user?.tokenHash) return undefined
    return this.checkHash(user, token, attempt)
  }

  private async checkHash(user: AuthUser, token: string, attempt: LoginAttempt): Promise<AuthUser | undefined> {
    const table = this.table
    const key = crypto.createHmac('sha256', this.memoryKey).update(user.name, 'utf8').update('\0').update(token, 'utf8').digest('base64')
    if (this.verified.get(key) === user.credentialId) return user
    const failedUntil = this.failed.get(key)
    if (failedUntil !== undefined && failedUntil > Date.now()) return undefined

    // Reserved before the await, so concurrent HELLOs from one address cannot all pass the check.
    const release = this.budget.reserveHashCheck(attempt.ip)
    let ok: boolean
    try {
      const check = this.slots.run(() => verifyToken(token, user.tokenHash!), attempt.signal)
      if (!check) {
        throw new SkiffError('TOO_MANY_CONNECTIONS', 'too many logins are being checked; try again shortly', { details: { limit: 'hashChecksWaiting', value: SCRYPT_WAITING } })
      }
      ok = await check
    } finally {
      release()
    }
    if (table !== this.table) {
      // Reloaded meanwhile: the verdict stands only for unchanged credentials (no second scrypt).
      const now = this.table.byName.get(user.name)
      return ok && now?.credentialId === user.credentialId ? now : undefined
    }
    if (ok) remember(this.verified, key, user.credentialId)
    else remember(this.failed, key, Date.now() + FAILED_TTL_MS)
    return ok ? user : undefined
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MEMORY_LIMIT) map.delete(map.keys().next().value!)
  map.set(key, value)
}
