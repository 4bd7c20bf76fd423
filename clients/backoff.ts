/**
 * Reconnect policy: exponential backoff with full jitter.
 *
 * Attempt n (1, 2, 3, ...) after a lost connection waits a uniformly random
 * time in [0, min(maxDelayMs, initialDelayMs * 2^(n-1))]. "Full jitter" (the
 * whole delay is random, not a random slice on top of a fixed one) spreads the
 * clients of a restarted broker over the window instead of letting them all
 * arrive in the same millisecond. By default the client never gives up:
 * `maxAttempts` counts consecutive failed attempts of one outage and is
 * Infinity unless set.
 */
import { SkiffError } from '../protocol/index.js'

/** How the client reconnects after losing its connection. */
export interface ReconnectOptions {
  /** Upper bound of the first attempt's random delay. Default 100 ms. */
  initialDelayMs?: number
  /** The delay bound stops doubling here. Default 5000 ms. */
  maxDelayMs?: number
  /** Consecutive failed attempts before the client gives up and closes. Default Infinity (never give up). */
  maxAttempts?: number
}

/** A complete reconnect policy (every option filled in). */
export type ReconnectPolicy = Required<ReconnectOptions>

/** The defaults of {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT: Readonly<ReconnectPolicy> = Object.freeze({ initialDelayMs: 100, maxDelayMs: 5000, maxAttempts: Infinity })

/** Fill in and check a reconnect option; `false` (no reconnecting) gives undefined. */
export function reconnectPolicy(opt: ReconnectOptions | boolean | undefined): ReconnectPolicy | undefined {
  if (opt === false) return undefined
  if (opt === undefined || opt === true) return { ...DEFAULT_RECONNECT }
  const p: ReconnectPolicy = { ...DEFAULT_RECONNECT, ...definedOnly(opt) }
  const bad = (what: string) => new SkiffError('INVALID_REQUEST', `reconnect.${what}`)
  if (!Number.isFinite(p.initialDelayMs) || p.initialDelayMs < 0) throw bad(`initialDelayMs must be a non-negative number, got ${p.initialDelayMs}`)
  if (!Number.isFinite(p.maxDelayMs) || p.maxDelayMs < p.initialDelayMs) throw bad(`maxDelayMs must be a number >= initialDelayMs, got ${p.maxDelayMs}`)
  if (!(p.maxAttempts === Infinity || (Number.isInteger(p.maxAttempts) && p.maxAttempts >= 1))) throw bad(`maxAttempts must be a positive integer or Infinity, got ${p.maxAttempts}`)
  return p
}

/** The delay before attempt `attempt` (1-based): full jitter over the capped exponential bound. */
export function backoffDelay(policy: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  // 2^(attempt-1) overflows to Infinity for huge attempt counts; the min() caps it.
  const bound = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1))
  return Math.floor(random() * bound)
}

function definedOnly(o: ReconnectOptions): ReconnectOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ReconnectOptions
}
