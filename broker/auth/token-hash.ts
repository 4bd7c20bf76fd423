/**
 * Token hashes for the auth file, so the file need not hold a usable secret.
 * The format is the PHC string of scrypt:
 *
 *   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt, base64 without padding>$<hash, base64 without padding>
 *
 * `skiff passwd` makes them. Verification runs on libuv's thread pool
 * (crypto.scrypt, not scryptSync) so a wrong token never blocks the event
 * loop; the authenticator bounds how many run at once.
 *
 * The parameters are read from the string but held to sane bounds, so a typo
 * in the file cannot make each HELLO ask for gigabytes.
 */
import crypto from 'node:crypto'

export interface ScryptParams {
  /** log2 of the cost N. */
  ln: number
  r: number
  p: number
}

/** 2^15 x 8 x 128 bytes = 32 MiB of memory and roughly 0.1 s per check. */
export const DEFAULT_SCRYPT: ScryptParams = { ln: 15, r: 8, p: 1 }
const KEY_BYTES = 32
const SALT_BYTES = 16
const BOUNDS = { ln: [10, 20], r: [1, 32], p: [1, 16] } as const

export interface TokenHash {
  params: ScryptParams
  salt: Buffer
  hash: Buffer
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '')

function maxmem(params: ScryptParams): number {
  return 128 * 2 ** params.ln * params.r * 2 + 1024 * 1024
}

/** Why the string is not a usable token hash, or undefined. */
export function tokenHashProblem(value: unknown): string | undefined {
  try {
    parseTokenHash(value)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

export function parseTokenHash(value: unknown): TokenHash {
  if (typeof value !== 'string') throw new Error('must be a string')
  const m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(value)
  if (!m) throw new Error('must look like $scrypt$ln=15,r=8,p=1$<salt>$<hash> (make one with skiff passwd)')
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) }
  for (const k of ['ln', 'r', 'p'] as const) {
    const [lo, hi] = BOUNDS[k]
    if (params[k] < lo || params[k] > hi) throw new Error(`scrypt ${k} must be ${lo}-${hi}, not ${params[k]}`)
  }
  const salt = Buffer.from(m[4]!, 'base64')
  const hash = Buffer.from(m[5]!, 'base64')
  if (salt.length < 8) throw new Error('scrypt salt must be at least 8 bytes')
  if (hash.length < 16 || hash.length > 64) throw new Error('scrypt hash must be 16-64 bytes')
  return { params, salt, hash }
}

function derive(token: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    crypto.scrypt(token, salt, keylen, { N: 2 ** params.ln, r: params.r, p: params.p, maxmem: maxmem(params) }, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

export async function hashToken(token: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES)
  const hash = await derive(token, salt, KEY_BYTES, params)
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`
}

/** Constant-time comparison of the derived key with the stored one. */
export async function verifyToken(token: string, stored: TokenHash): Promise<boolean> {
  const key = await derive(token, stored.salt, stored.hash.length, stored.params)
  return crypto.timingSafeEqual(key, stored.hash)
}

/** A fresh random token: 32 bytes, base64url (43 characters). */
export function generateToken(): string {
  return crypto.randomBytes(32).toString('base64url')
}
