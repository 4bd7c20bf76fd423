/**
 * Checks of the observability options (HTTP, UDP telemetry, StatsD, label
 * budgets). They live here rather than in config.ts so the option table stays
 * a table; config.ts turns a returned problem into a ConfigError.
 */
import type { BrokerConfig } from '../config.js'
import { allowedHostsProblem } from './http-access.js'

/** The broker options these checks read (a view of BrokerConfig, not a copy of its fields). */
export type ObservabilityOptions = Pick<
  BrokerConfig,
  'httpPort' | 'httpHost' | 'httpAllowedHosts' | 'udp' | 'udpPort' | 'udpMaxDatagram' | 'statsd' | 'statsdIntervalS' | 'maxMetricTopics' | 'maxMetricGroups'
>

/** The largest UDP payload IPv4 can carry (65535 - 8 byte UDP header - 20 byte IP header). */
export const MAX_UDP_PAYLOAD = 65_507

/** `host:port` (IPv6 host in brackets) or undefined when it is not one. */
export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port < 1 || port > 65535) return undefined
  return { host: (m[1] ?? m[2])!, port }
}

/** The first problem with the options, as a message for ConfigError, or undefined. */
export function observabilityConfigProblem(c: ObservabilityOptions): string | undefined {
  if (!Number.isInteger(c.httpPort) || c.httpPort > 65535) return `httpPort must be 0-65535, not ${c.httpPort}`
  const hostsProblem = allowedHostsProblem(c.httpAllowedHosts)
  if (hostsProblem) return hostsProblem
  if (!Number.isInteger(c.udpPort) || c.udpPort > 65535) return `udpPort must be 0-65535, not ${c.udpPort}`
  if (!Number.isInteger(c.udpMaxDatagram) || c.udpMaxDatagram < 64 || c.udpMaxDatagram > MAX_UDP_PAYLOAD) {
    return `udpMaxDatagram must be 64-${MAX_UDP_PAYLOAD} bytes, not ${c.udpMaxDatagram}`
  }
  if (c.statsd !== '' && !parseHostPort(c.statsd)) return `statsd must be host:port (e.g. 127.0.0.1:8125), not ${JSON.stringify(c.statsd)}`
  if (!(c.statsdIntervalS > 0)) return `statsdIntervalS must be more than 0, not ${c.statsdIntervalS}`
  if (!Number.isInteger(c.maxMetricTopics) || c.maxMetricTopics < 1) return `maxMetricTopics must be a whole number of at least 1`
  if (!Number.isInteger(c.maxMetricGroups) || c.maxMetricGroups < 1) return `maxMetricGroups must be a whole number of at least 1`
  return undefined
}
