/**
 * What logins from one IP address may cost the broker, checked before any
 * credential is looked at:
 *
 * - Failed logins: a token bucket per address holding `maxFailedLoginsPerIp`
 *   tokens, refilled at that many per minute. Every refused login (wrong or
 *   missing token, unknown user, plain or hashed) takes one. While the bucket
 *   holds less than one, every HELLO from that address is refused at once with
 *   TOO_MANY_CONNECTIONS naming the limit, until it refills (one more attempt
 *   every 60 / maxFailedLoginsPerIp seconds). 0 turns the rate off.
 * - Hash checks: at most MAX_HASH_CHECKS_PER_IP scrypt checks queued or running
 *   for one address at once. One address can then hold only that many of the
 *   broker-wide slots (auth/slots.ts), so a storm from one host leaves the
 *   wait list short for everyone else. More at once: TOO_MANY_CONNECTIONS
 *   (retriable).
 *
 * Decisions written down here:
 * - Addresses are keyed as the connection limiter keys them (IPv4-mapped IPv6
 *   counts as IPv4), so a dual-stack listener cannot double a host's budget.
 * - The table is bounded: at most MAX_ADDRESSES addresses are remembered,
 *   least recently seen dropped first. An address sweep can then evict the
 *   oldest entries (forgetting their failures), but never grow the table;
 *   each swept address still starts with only its own budget.
 * - A refusal by this budget is not itself counted as a failure: it costs
 *   nothing, and counting it would keep a host that retries too eagerly locked
 *   out for good instead of for the refill time.
 */
import { SkiffError } from '../../protocol/index.js'
import { normalizeAddress } from './connection-limiter.js'

export const MAX_HASH_CHECKS_PER_IP = 4
export const MAX_ADDRESSES = 10_000
const MINUTE_MS = 60_000

interface AddressBudget {
  /** Failed logins this address may still make now (a token bucket, fractional while it refills). */
  tokens: number
  /** When `tokens` was last brought up to date. */
  at: number
  /** Hash checks of this address queued or running. */
  checks: number
}

export class LoginBudget {
  private readonly byAddress = new Map<string, AddressBudget>()

  constructor(
    /** Failed logins per minute per address; 0 = no rate. Read at each call, so a config change applies at once. */
    private readonly maxFailedPerMinute: () => number,
    private readonly maxAddresses = MAX_ADDRESSES,
    private readonly now: () => number = Date.now,
  ) {}

  /** Addresses remembered (bounded by maxAddresses). */
  get size(): number {
    return this.byAddress.size
  }

  /** Throws TOO_MANY_CONNECTIONS while `address` is over its failed-login rate. Costs nothing else. */
  admit(address: string | undefined): void {
    const rate = this.maxFailedPerMinute()
    if (rate <= 0) return
    const ip = normalizeAddress(address)
    const b = this.byAddress.get(ip)
    if (!b) return
    this.refill(b, rate)
    if (b.tokens >= 1) return
    const retryAfterMs = Math.ceil(((1 - b.tokens) * MINUTE_MS) / rate)
    throw new SkiffError('TOO_MANY_CONNECTIONS', `${ip} made more than ${rate} failed logins a minute (maxFailedLoginsPerIp); try again in ${Math.ceil(retryAfterMs / 1000)} s`, {
      details: { limit: 'maxFailedLoginsPerIp', value: rate, retryAfterMs },
    })
  }

  /** A refused login from `address`: takes one token from its bucket. */
  failed(address: string | undefined): void {
    const rate = this.maxFailedPerMinute()
    if (rate <= 0) return
    const b = this.touch(normalizeAddress(address), rate)
    this.refill(b, rate)
    b.tokens = Math.max(0, b.tokens - 1)
  }

  /**
   * Reserve one hash check for `address` before queueing it; the returned
   * function gives it back (call it exactly once, when the check ended or was
   * dropped). Throws TOO_MANY_CONNECTIONS when the address already holds
   * MAX_HASH_CHECKS_PER_IP.
   */
  reserveHashCheck(address: string | undefined): () => void {
    const ip = normalizeAddress(address)
    const b = this.touch(ip, this.maxFailedPerMinute())
    if (b.checks >= MAX_HASH_CHECKS_PER_IP) {
      throw new SkiffError('TOO_MANY_CONNECTIONS', `${ip} already has ${b.checks} logins being checked; try again shortly`, {
        details: { limit: 'hashChecksPerIp', value: MAX_HASH_CHECKS_PER_IP },
      })
    }
    b.checks++
    let released = false
    return () => {
      if (released) return
      released = true
      // The entry may have been evicted meanwhile; it is this object either way.
      b.checks--
    }
  }

  private refill(b: AddressBudget, rate: number): void {
    const now = this.now()
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) * rate) / MINUTE_MS)
    b.at = now
  }

  /** The entry of `ip`, made (with a full bucket) when missing, and marked most recently seen. */
  private touch(ip: string, rate: number): AddressBudget {
    let b = this.byAddress.get(ip)
    if (b) {
      this.byAddress.delete(ip)
    } else {
      b = { tokens: rate, at: this.now(), checks: 0 }
      if (this.byAddress.size >= this.maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value!)
    }
    this.byAddress.set(ip, b)
    return b
  }
}
