/**
 * Checks of the security options. They live here rather than in config.ts so
 * the option table stays a table; config.ts turns a returned problem into a
 * ConfigError.
 *
 * The exposure rule: without an auth file every client is anonymous and may
 * do anything, so the broker listens on a loopback address only. Listening
 * anywhere else needs an auth file, or client certificates checked against a
 * CA (`--tls-verify-clients`: every client proves who it is), or an explicit
 * `--allow-anonymous` (the broker then logs a warning at start).
 */
import net from 'node:net'
import type { BrokerConfig } from '../config.js'
import { readAuthFile } from './auth-file.js'
import { secureContextOptions } from './tls-acceptor.js'
import { certFieldsProblem } from './cert-names.js'

/** The broker options these checks read (a view of BrokerConfig, not a copy of its fields). */
export type SecurityOptions = Pick<
  BrokerConfig,
  | 'host'
  | 'authFile'
  | 'allowAnonymous'
  | 'tlsCert'
  | 'tlsKey'
  | 'tlsCa'
  | 'tlsVerifyClients'
  | 'tlsUserFields'
  | 'maxFailedLoginsPerIp'
  | 'maxConnections'
  | 'maxConnectionsPerIp'
  | 'maxSubscriptionsPerConnection'
  | 'maxTopics'
  | 'maxPartitionsPerTopic'
  | 'defaultPartitions'
>

/** True for 127.0.0.0/8, ::1, their IPv4-mapped form and "localhost". */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h
  return net.isIPv4(v4) && v4.startsWith('127.')
}

/** Anonymous access reachable from other machines: allowed only with allowAnonymous. */
export function anonymousExposure(c: Pick<SecurityOptions, 'host' | 'authFile' | 'tlsVerifyClients' | 'tlsCa'>): boolean {
  return c.authFile === '' && !(c.tlsVerifyClients && c.tlsCa !== '') && !isLoopback(c.host)
}

export function securityConfigProblem(c: SecurityOptions): string | undefined {
  if ((c.tlsCert === '') !== (c.tlsKey === '')) return 'tlsCert and tlsKey go together: give both to serve TLS, or neither'
  if (c.tlsCa !== '' && c.tlsCert === '') return 'tlsCa needs tlsCert and tlsKey (it checks client certificates on the TLS port)'
  if (c.tlsVerifyClients && c.tlsCa === '') return 'tlsVerifyClients needs tlsCa: the CA that signs the client certificates'
  const fieldsProblem = certFieldsProblem(c.tlsUserFields)
  if (fieldsProblem) return fieldsProblem
  for (const k of ['maxConnections', 'maxConnectionsPerIp', 'maxSubscriptionsPerConnection', 'maxTopics', 'maxPartitionsPerTopic', 'maxFailedLoginsPerIp'] as const) {
    if (!Number.isInteger(c[k])) return `${k} must be a whole number, not ${c[k]}`
  }
  if (c.maxPartitionsPerTopic < 1) return 'maxPartitionsPerTopic must be at least 1'
  if (c.defaultPartitions > c.maxPartitionsPerTopic) return `defaultPartitions (${c.defaultPartitions}) is more than maxPartitionsPerTopic (${c.maxPartitionsPerTopic})`
  // The files are read here too, so `skiff broker` reports a bad one as a config error before starting anything.
  if (c.authFile !== '') {
    try {
      readAuthFile(c.authFile)
    } catch (err) {
      return (err as Error).message
    }
  }
  if (c.tlsCert !== '') {
    try {
      secureContextOptions(c)
    } catch (err) {
      return (err as Error).message
    }
  }
  if (anonymousExposure(c) && !c.allowAnonymous) {
    return (
      `without an auth file the broker only listens on loopback, not ${c.host}: ` +
      'give --auth-file users.json (see SECURITY.md), or --allow-anonymous to let anyone who can reach the port do anything'
    )
  }
  return undefined
}
