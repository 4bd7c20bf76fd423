/**
 * The auth file (`--auth-file users.json`):
 *
 *   { "users": [
 *     { "name": "app", "token": "...", "publish": ["orders.>"], "subscribe": ["orders.>"], "admin": false },
 *     { "name": "billing", "tokenHash": "$scrypt$ln=15,r=8,p=1$...$...",
 *       "subscribe": { "allow": ["orders.>"], "deny": ["orders.internal.>"] }, "expires": "2026-01-01T00:00:00Z" },
 *     { "name": "reporter.example.com", "subscribe": [">"] }
 *   ] }
 *
 * Decisions written down here:
 * - Everything is checked when the file is read; any problem (unknown key,
 *   bad pattern, duplicate name or token, short token) refuses the whole file,
 *   naming the user and the key. At start that stops the broker; on SIGHUP the
 *   previous file stays in force.
 * - `publish` / `subscribe` are a list of allowed patterns, or
 *   `{ allow, deny }`; a deny always wins over an allow. Absent = nothing.
 * - `admin: true` allows creating and deleting topics and seeing every topic
 *   and group; it grants no publish or subscribe by itself.
 * - `monitor: true` is read-only: it may see every topic and group (describe
 *   and list over the protocol, the HTTP panel and /api/overview) and nothing
 *   else. It exists so a dashboard login cannot create or delete anything.
 * - `broker: true` marks the identity the brokers of a cluster use with each
 *   other (broker/cluster/peer-link.ts): only a connection logged in as such
 *   a user may hand a broker a request another broker already checked
 *   (REQUEST.forwarded). A broker logs in to its peers with the first such
 *   user that has a plain `token`, so every broker of a cluster needs the
 *   same entry. It grants nothing else by itself.
 * - A user with neither `token` nor `tokenHash` can only log in with a client
 *   certificate whose CN or subjectAltName equals its `name` (mTLS).
 * - Plain tokens must be at least 16 characters: short ones are guessable over
 *   the network whatever the comparison does.
 * - `expires` (an ISO 8601 time) ends the user's access at that moment, also
 *   for connections already open.
 */
import fs from 'node:fs'
import crypto from 'node:crypto'
import { compilePattern, patternProblem, type Pattern } from './patterns.js'
import { parseTokenHash, type TokenHash } from './token-hash.js'
import { MAX_USER_LENGTH } from '../../protocol/frames/hello.js'

export const MIN_TOKEN_LENGTH = 16
/** HELLO.token is at most this long, so a longer one could never log in. */
export const MAX_TOKEN_LENGTH = 4096
const USER_KEYS = new Set(['name', 'token', 'tokenHash', 'publish', 'subscribe', 'admin', 'monitor', 'broker', 'expires'])
const NAME = new RegExp(`^[\\x21-\\x7e]{1,${MAX_USER_LENGTH}}$`)

export interface Permission {
  allow: readonly Pattern[]
  deny: readonly Pattern[]
}

export interface AuthUser {
  readonly name: string
  /** SHA-256 of the plain token (compared in constant time), when the file gives `token`. */
  readonly tokenDigest?: Buffer
  /** The plain token, kept only for UDP telemetry HMAC keys. */
  readonly token?: string
  readonly tokenHash?: TokenHash
  readonly publish: Permission
  readonly subscribe: Permission
  readonly admin: boolean
  /** May see every topic and group and the HTTP panel; may change nothing. */
  readonly monitor: boolean
  /** The identity brokers of a cluster use with each other (may send forwarded requests). */
  readonly broker: boolean
  /** ms since the epoch; undefined = never. */
  readonly expiresAt?: number
  /**
   * Changes whenever anything that proves this user's identity changes, so a
   * reload can tell a connection made with an old token from one still good.
   */
  readonly credentialId: string
}

export interface AuthTable {
  readonly users: readonly AuthUser[]
  readonly byName: ReadonlyMap<string, AuthUser>
}

export class AuthFileError extends Error {
  override name = 'AuthFileError'
}

export function digestToken(token: string): Buffer {
  return crypto.createHash('sha256').update(token, 'utf8').digest()
}

export function readAuthFile(path: string): AuthTable {
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (err) {
    throw new AuthFileError(`cannot read auth file ${path}: ${(err as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new AuthFileError(`auth file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  return parseAuthTable(value, `auth file ${path}`)
}

export function parseAuthTable(value: unknown, source = 'auth file'): AuthTable {
  if (!isObject(value)) throw new AuthFileError(`${source} must hold a JSON object with a "users" array`)
  for (const k of Object.keys(value)) if (k !== 'users') throw new AuthFileError(`${source}: unknown key ${JSON.stringify(k)} (only "users")`)
  if (!Array.isArray(value.users)) throw new AuthFileError(`${source}: "users" must be an array`)
  const users: AuthUser[] = []
  const byName = new Map<string, AuthUser>()
  const tokens = new Map<string, string>()
  value.users.forEach((entry: unknown, i: number) => {
    const user = parseUser(entry, `${source}: users[${i}]`)
    if (byName.has(user.name)) throw new AuthFileError(`${source}: user ${JSON.stringify(user.name)} appears twice`)
    if (user.tokenDigest) {
      const key = user.tokenDigest.toString('hex')
      const other = tokens.get(key)
      if (other !== undefined) throw new AuthFileError(`${source}: users ${JSON.stringify(other)} and ${JSON.stringify(user.name)} have the same token`)
      tokens.set(key, user.name)
    }
    users.push(user)
    byName.set(user.name, user)
  })
  return { users, byName }
}

function parseUser(entry: unknown, where: string): AuthUser {
  if (!isObject(entry)) throw new AuthFileError(`${where} must be an object`)
  const name = entry.name
  if (typeof name !== 'string' || !NAME.test(name)) throw new AuthFileError(`${where}: "name" must be 1-${MAX_USER_LENGTH} printable characters without spaces`)
  const at = `${where} (${name})`
  for (const k of Object.keys(entry)) if (!USER_KEYS.has(k)) throw new AuthFileError(`${at}: unknown key ${JSON.stringify(k)}`)
  if (entry.token !== undefined && entry.tokenHash !== undefined) throw new AuthFileError(`${at}: give "token" or "tokenHash", not both`)
  let token: string | undefined
  let tokenHash: TokenHash | undefined
  if (entry.token !== undefined) {
    if (typeof entry.token !== 'string' || entry.token.length < MIN_TOKEN_LENGTH || entry.token.length > MAX_TOKEN_LENGTH) {
      throw new AuthFileError(`${at}: "token" must be a string of ${MIN_TOKEN_LENGTH}-${MAX_TOKEN_LENGTH} characters (skiff passwd makes one)`)
    }
    token = entry.token
  }
  if (entry.tokenHash !== undefined) {
    try {
      tokenHash = parseTokenHash(entry.tokenHash)
    } catch (err) {
      throw new AuthFileError(`${at}: "tokenHash" ${(err as Error).message}`)
    }
  }
  for (const flag of ['admin', 'monitor', 'broker'] as const) {
    if (entry[flag] !== undefined && typeof entry[flag] !== 'boolean') throw new AuthFileError(`${at}: "${flag}" must be true or false`)
  }
  let expiresAt: number | undefined
  if (entry.expires !== undefined) {
    expiresAt = typeof entry.expires === 'string' ? Date.parse(entry.expires) : NaN
    if (!Number.isFinite(expiresAt)) throw new AuthFileError(`${at}: "expires" must be an ISO 8601 time such as 2026-01-31T00:00:00Z`)
  }
  const credentialId = crypto
    .createHash('sha256')
    .update(JSON.stringify([name, token ?? null, typeof entry.tokenHash === 'string' ? entry.tokenHash : null]))
    .digest('hex')
  return {
    name,
    ...(token !== undefined ? { token, tokenDigest: digestToken(token) } : {}),
    ...(tokenHash ? { tokenHash } : {}),
    publish: parsePermission(entry.publish, `${at}: "publish"`),
    subscribe: parsePermission(entry.subscribe, `${at}: "subscribe"`),
    admin: entry.admin === true,
    monitor: entry.monitor === true,
    broker: entry.broker === true,
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    credentialId,
  }
}

function parsePermission(value: unknown, where: string): Permission {
  if (value === undefined) return { allow: [], deny: [] }
  if (Array.isArray(value)) return { allow: patterns(value, where), deny: [] }
  if (!isObject(value)) throw new AuthFileError(`${where} must be a list of patterns or { "allow": [...], "deny": [...] }`)
  for (const k of Object.keys(value)) if (k !== 'allow' && k !== 'deny') throw new AuthFileError(`${where}: unknown key ${JSON.stringify(k)} (allow or deny)`)
  for (const k of ['allow', 'deny'] as const) {
    if (value[k] !== undefined && !Array.isArray(value[k])) throw new AuthFileError(`${where}.${k} must be a list of patterns`)
  }
  return { allow: patterns((value.allow as unknown[]) ?? [], `${where}.allow`), deny: patterns((value.deny as unknown[]) ?? [], `${where}.deny`) }
}

function patterns(list: unknown[], where: string): Pattern[] {
  return list.map((p, i) => {
    const problem = patternProblem(p)
    if (problem) throw new AuthFileError(`${where}[${i}] ${JSON.stringify(p)} ${problem}`)
    return compilePattern(p as string)
  })
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
