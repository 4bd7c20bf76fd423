/**
 * Connection counts, global and per remote address, taken when the TCP
 * connection is accepted (before TLS or HELLO, so half-open handshakes count
 * too) and given back when the socket closes. A limit of 0 means none.
 *
 * IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) count as their IPv4 address so
 * a dual-stack listener cannot be used to double a client's share.
 */
import { SkiffError } from '../../protocol/index.js'

export interface ConnectionLimits {
  maxConnections: number
  maxConnectionsPerIp: number
}

export class ConnectionLimiter {
  private total = 0
  private readonly perIp = new Map<string, number>()

  constructor(private readonly limits: ConnectionLimits) {}

  get count(): number {
    return this.total
  }

  countFor(address: string | undefined): number {
    return this.perIp.get(normalizeAddress(address)) ?? 0
  }

  /** Take a slot for a new connection from `address`, or say why not. */
  admit(address: string | undefined): SkiffError | undefined {
    const ip = normalizeAddress(address)
    const { maxConnections, maxConnectionsPerIp } = this.limits
    if (maxConnections > 0 && this.total >= maxConnections) {
      return new SkiffError('TOO_MANY_CONNECTIONS', `the broker already has ${this.total} connections (maxConnections)`, { details: { limit: 'maxConnections', value: maxConnections } })
    }
    const mine = this.perIp.get(ip) ?? 0
    if (maxConnectionsPerIp > 0 && mine >= maxConnectionsPerIp) {
      return new SkiffError('TOO_MANY_CONNECTIONS', `${ip} already has ${mine} connections (maxConnectionsPerIp)`, { details: { limit: 'maxConnectionsPerIp', value: maxConnectionsPerIp } })
    }
    this.total++
    this.perIp.set(ip, mine + 1)
    return undefined
  }

  release(address: string | undefined): void {
    const ip = normalizeAddress(address)
    const mine = this.perIp.get(ip)
    if (mine === undefined) return
    this.total--
    if (mine <= 1) this.perIp.delete(ip)
    else this.perIp.set(ip, mine - 1)
  }
}

/** The key of an address in per-IP tables: ::ffff:10.0.0.1 counts as 10.0.0.1; no address at all is '?'. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '?'
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}
