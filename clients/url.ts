/**
 * Broker URLs. `skiff://host:port` is plain TCP, `skiffs://host:port` is TLS,
 * `udp://host:port` is the telemetry ingest. The port defaults to 7600 (the
 * protocol's port for all three), the host to 127.0.0.1. IPv6 literals go in
 * brackets (`skiff://[::1]:7600`), as in every other URL.
 *
 * Decision: anything after host:port (a path, a query) is refused rather than
 * ignored, so a typo such as `skiff://host:7600/orders` is not silently taken
 * for a broker address.
 */
import { SkiffError } from '../protocol/index.js'

/** The protocol's port (TCP, TLS and UDP). */
export const DEFAULT_PORT = 7600
/** The host when a URL names none. */
export const DEFAULT_HOST = '127.0.0.1'
/** Where connect() goes without a URL (the CLI's default too). */
export const DEFAULT_URL = `skiff://${DEFAULT_HOST}:${DEFAULT_PORT}`

/** tcp for skiff://, tls for skiffs://, udp for udp:// (telemetry). */
export type Transport = 'tcp' | 'tls' | 'udp'

/** A parsed broker URL. */
export interface BrokerAddress {
  transport: Transport
  host: string
  port: number
}

const SCHEMES: Record<string, Transport> = { 'skiff:': 'tcp', 'skiffs:': 'tls', 'udp:': 'udp' }

/** Parse one broker URL; INVALID_REQUEST naming the problem when it is not one. */
export function parseUrl(input: string): BrokerAddress {
  const bad = (why: string) => new SkiffError('INVALID_REQUEST', `invalid broker URL ${JSON.stringify(input)}: ${why}`)
  if (typeof input !== 'string' || input.trim() === '') throw bad('it is empty')
  if (!/^[a-z]+:\/\//i.test(input.trim())) throw bad('expected scheme://host:port, e.g. skiff://127.0.0.1:7600')
  let url: URL
  try {
    url = new URL(input.trim())
  } catch {
    throw bad('expected skiff://host:port, skiffs://host:port or udp://host:port')
  }
  const transport = SCHEMES[url.protocol]
  if (!transport) throw bad(`unknown scheme "${url.protocol.replace(/:$/, '')}" (use skiff, skiffs or udp)`)
  if (url.username || url.password) throw bad('credentials do not belong in the URL; pass the token option')
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) throw bad('nothing may follow host:port')
  // WHATWG URL keeps IPv6 brackets in hostname; net.connect wants them off.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || DEFAULT_HOST
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port must be 1-65535')
  return { transport, host, port }
}

/** An address back as a URL (IPv6 hosts in brackets). */
export function formatAddress(a: BrokerAddress): string {
  const scheme = a.transport === 'tcp' ? 'skiff' : a.transport === 'tls' ? 'skiffs' : 'udp'
  const host = a.host.includes(':') ? `[${a.host}]` : a.host
  return `${scheme}://${host}:${a.port}`
}

/**
 * One URL or a list of them (brokers to rotate through when reconnecting;
 * seeds of a cluster). A string may hold several, comma-separated, as
 * SKIFF_URL and --url do: `skiff://a:7600,skiff://b:7600`, or with the
 * scheme once, `skiff://a:7600,b:7600` (the others take the first one's).
 * Every entry must be a skiff:// or skiffs:// address; an empty list is refused.
 */
export function parseBrokerUrls(input: string | readonly string[]): BrokerAddress[] {
  const list = (typeof input === 'string' ? [input] : [...input]).flatMap(splitSeeds)
  if (list.length === 0) throw new SkiffError('INVALID_REQUEST', 'no broker URL given')
  return list.map((u) => {
    const a = parseUrl(u)
    if (a.transport === 'udp') {
      throw new SkiffError('INVALID_REQUEST', `${formatAddress(a)} is a telemetry address; connect() needs skiff:// or skiffs://`)
    }
    return a
  })
}

/** `skiff://a:1,b:2` -> ['skiff://a:1', 'skiff://b:2']; a string without a comma as it is. */
function splitSeeds(input: string): string[] {
  if (!input.includes(',')) return [input]
  const parts = input.split(',').map((p) => p.trim())
  const scheme = /^[a-z]+:\/\//.exec(parts[0]!)?.[0] ?? ''
  return parts.map((p) => (p === '' || /^[a-z]+:\/\//.test(p) ? p : scheme + p))
}
