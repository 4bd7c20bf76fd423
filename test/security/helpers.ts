/**
 * Helpers for the security tests: an auth file in a temp dir, a broker that
 * uses it, raw peers that log in with a token, and the broker's memory.
 * Every wait is bounded.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Op, SUPPORTED_VERSIONS, encodeHello, decodeOk, unpack, type Frame } from '../../protocol/index.js'
import { RawPeer, testBroker } from '../broker/raw-peer.js'
import type { BrokerConfig, RunningBroker } from '../../broker/index.js'

export { RawPeer } from '../broker/raw-peer.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** Tokens of at least 16 characters, as the auth file requires. */
export const TOKENS = {
  app: 'app-token-0123456789abcdef',
  reader: 'reader-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef',
  nobody: 'nobody-token-0123456789abcdef',
} as const

export function tempDir(t: Teardown, prefix = 'skiff-sec-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function writeAuthFile(file: string, users: unknown[]): string {
  fs.writeFileSync(file, JSON.stringify({ users }, null, 2))
  return file
}

/** A broker on 127.0.0.1:0 with an auth file holding `users`; closed at teardown. */
export async function authBroker(t: Teardown, users: unknown[], opts: Partial<BrokerConfig> = {}): Promise<{ broker: RunningBroker; authFile: string; dir: string }> {
  const dir = tempDir(t)
  const authFile = writeAuthFile(path.join(dir, 'users.json'), users)
  const broker = await testBroker(t, { authFile, ...opts })
  return { broker, authFile, dir }
}

/** Connect and send HELLO with `token` (and `user`, needed for a hashed token); resolves once WELCOME came, or the socket closed. */
export async function login(port: number, token: string | undefined, opts: { user?: string; timeoutMs?: number } = {}): Promise<RawPeer> {
  const timeoutMs = opts.timeoutMs ?? 5000
  const p = await RawPeer.connect(port)
  p.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'security-test', token, user: opts.user }))
  await p.waitFor((f) => f.opcode === Op.WELCOME || f.opcode === Op.ERROR, timeoutMs)
  return p
}

export function welcomed(p: RawPeer): boolean {
  return p.frames.some((f) => f.opcode === Op.WELCOME)
}

/** The answer (OK, PUBLISH_ACK or ERROR) carrying `corr`, decoded enough to assert on. */
export async function answer(p: RawPeer, corr: number, timeoutMs = 5000): Promise<{ ok: boolean; error?: string; details?: Record<string, unknown>; result?: unknown; frame?: Frame }> {
  const f = await p.waitFor((x) => (x.opcode === Op.OK || x.opcode === Op.PUBLISH_ACK || x.opcode === Op.ERROR) && corrOf(x) === corr, timeoutMs)
  if (!f) return { ok: false, error: p.closed ? 'CLOSED' : 'NO_ANSWER' }
  if (f.opcode === Op.ERROR) {
    const e = p.errors().find((x) => x.corr === corr)!
    return { ok: false, error: e.name, ...(e.details ? { details: e.details } : {}), frame: f }
  }
  return { ok: true, frame: f, ...(f.opcode === Op.OK ? { result: decodeOk(f.body).result } : {}) }
}

function corrOf(f: Frame): number | undefined {
  try {
    const corr = (unpack(f.body) as { corr?: unknown }).corr
    return typeof corr === 'number' ? corr : undefined
  } catch {
    return undefined
  }
}

export function rssMiB(): number {
  return process.memoryUsage().rss / (1024 * 1024)
}

/** Wait until `cond` holds or `timeoutMs` passes; returns whether it held. */
export async function until(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, stepMs))
  }
  return true
}
