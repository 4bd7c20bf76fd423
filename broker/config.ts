/**
 * Broker configuration: one table of options with defaults, read from (in
 * order of precedence) command-line flags, SKIFF_* environment variables and a
 * JSON config file. Unknown keys in the file are an error naming the key, so a
 * typo does not silently fall back to a default.
 */
import os from 'node:os'
import { readFileSync } from 'node:fs'
import { DEFAULT_MAX_FRAME } from '../protocol/index.js'
import { observabilityConfigProblem, MAX_UDP_PAYLOAD } from './observability/config-check.js'
import { securityConfigProblem } from './auth/config-check.js'
import { clusterConfigProblem } from './cluster/config-check.js'
import { ConfigError, parseFsync, type FsyncPolicy } from './fsync-policy.js'

export { ConfigError, parseFsync, type FsyncPolicy }

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

export interface BrokerConfig {
  host: string
  port: number
  dataDir: string
  workers: number
  fsync: string
  maxFrame: number
  autoCreateTopics: boolean
  defaultPartitions: number
  /** Default segment size for new topics. */
  segmentBytes: number
  /** Default retention for new topics; 0 = forever / unlimited. */
  retentionMs: number
  retentionBytes: number
  ackTimeoutMs: number
  maxDeliveries: number
  heartbeatMs: number
  idleTimeoutMs: number
  authTimeoutMs: number
  /** Pending output bytes past which a connection is a slow consumer and is dropped. */
  maxPendingBytes: number
  /** Unconfirmed publish bytes per connection past which its socket stops being read. */
  maxConnectionPublishBytes: number
  /** How often dirty consumer-group state is written to disk. */
  groupCommitMs: number
  /** How often retention is applied. */
  retentionCheckMs: number
  /** Longest a graceful shutdown waits for in-flight publishes. */
  drainTimeoutMs: number
  logLevel: LogLevel
  /** HTTP port for /metrics, /healthz, /readyz; with port 0 and this at its default, any free port. */
  httpPort: number
  /**
   * Address for the HTTP port. Decision: loopback by default, whatever `host`
   * is, so /metrics, the panel and /api stay on the machine unless given
   * (--http-host 0.0.0.0 for a Prometheus elsewhere); empty = the same as host.
   */
  httpHost: string
  /** Accept UDP telemetry datagrams. */
  udp: boolean
  /** UDP port for telemetry; 0 = the same number as the TCP port. */
  udpPort: number
  /** Largest datagram accepted; bigger ones are dropped and counted. */
  udpMaxDatagram: number
  /** host:port to push StatsD lines to; empty = off. */
  statsd: string
  statsdIntervalS: number
  /** Label budgets: topics and groups past these share one `_other` series. */
  maxMetricTopics: number
  maxMetricGroups: number
  /** Users, tokens and permissions (broker/auth/auth-file.ts); empty = no auth, loopback only. */
  authFile: string
  /** Without an auth file, listen beyond loopback anyway (anyone who reaches the port may do anything). */
  allowAnonymous: boolean
  /** PEM files for TLS on the protocol port; both or neither. */
  tlsCert: string
  tlsKey: string
  /** CA for client certificates; with it the broker asks clients for one. */
  tlsCa: string
  /** Refuse TLS clients without a certificate signed by tlsCa. */
  tlsVerifyClients: boolean
  /** Limits against hostile or runaway clients; 0 = no limit. */
  maxConnections: number
  maxConnectionsPerIp: number
  maxSubscriptionsPerConnection: number
  maxTopics: number
  maxPartitionsPerTopic: number
  /** Broker-wide budgets (SECURITY.md, "What a client may cost"): past each, the largest holders are cut or paused first. */
  maxTotalPendingBytes: number
  maxTotalPartialFrameBytes: number
  maxTotalPublishBytes: number
  /** Requests waiting for replies: per requesting connection, and broker-wide. */
  maxRequestsPerConnection: number
  maxPendingRequests: number
  /** Failed logins per minute from one IP address before its HELLOs are refused for a while. */
  maxFailedLoginsPerIp: number
  /** Fields of a verified client certificate that may name a user: a comma list of cn, dns, email, uri. */
  tlsUserFields: string
  /** Host header values the panel and /api accept besides IP literals and localhost (comma list). */
  httpAllowedHosts: string
  /**
   * host:port that METADATA tells clients to reach this broker at; empty =
   * the address each client's connection reached. Needed behind NAT, in a
   * container, or when listening on 0.0.0.0 (Kafka's advertised.listeners).
   */
  advertise: string
  /**
   * etcd members to form a cluster through: `etcd://h1:2379,h2:2379` (http
   * URLs too); empty = a single broker, as without it (CLUSTER.md).
   */
  cluster: string
  /** This broker's id in its cluster: distinct per broker, 0-65535. */
  brokerId: number
  /** The cluster's name: its keys live under /skiff/<name>/ in etcd, so several clusters can share one etcd. */
  clusterName: string
  /** A follower not caught up with its leader for this long is written out of the in-sync set (Kafka's replica.lag.time.max.ms). */
  replicaLagMs: number
}

export const DEFAULTS: BrokerConfig = {
  host: '127.0.0.1',
  port: 7600,
  dataDir: './data',
  workers: Math.max(1, os.availableParallelism() - 1),
  fsync: 'always',
  maxFrame: DEFAULT_MAX_FRAME,
  autoCreateTopics: true,
  defaultPartitions: 1,
  segmentBytes: 64 * 1024 * 1024,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: 0,
  ackTimeoutMs: 30_000,
  maxDeliveries: 5,
  heartbeatMs: 5_000,
  idleTimeoutMs: 30_000,
  authTimeoutMs: 2_000,
  maxPendingBytes: 64 * 1024 * 1024,
  maxConnectionPublishBytes: 16 * 1024 * 1024,
  groupCommitMs: 200,
  retentionCheckMs: 60_000,
  drainTimeoutMs: 5_000,
  logLevel: 'info',
  httpPort: 9600,
  httpHost: '127.0.0.1',
  udp: true,
  udpPort: 0,
  udpMaxDatagram: MAX_UDP_PAYLOAD,
  statsd: '',
  statsdIntervalS: 10,
  maxMetricTopics: 500,
  maxMetricGroups: 100,
  authFile: '',
  allowAnonymous: false,
  tlsCert: '',
  tlsKey: '',
  tlsCa: '',
  tlsVerifyClients: false,
  maxConnections: 10_000,
  maxConnectionsPerIp: 1_000,
  maxSubscriptionsPerConnection: 1_000,
  maxTopics: 10_000,
  maxPartitionsPerTopic: 256,
  maxTotalPendingBytes: 256 * 1024 * 1024,
  maxTotalPartialFrameBytes: 64 * 1024 * 1024,
  maxTotalPublishBytes: 128 * 1024 * 1024,
  maxRequestsPerConnection: 10_000,
  maxPendingRequests: 100_000,
  maxFailedLoginsPerIp: 30,
  tlsUserFields: 'cn',
  httpAllowedHosts: '',
  advertise: '',
  cluster: '',
  brokerId: 0,
  clusterName: 'skiff',
  replicaLagMs: 10_000,
}

export type ConfigKey = keyof BrokerConfig


/** SKIFF_DATA_DIR for dataDir, SKIFF_MAX_FRAME for maxFrame, ... */
export function envName(key: ConfigKey): string {
  return 'SKIFF_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
}

function coerce(key: ConfigKey, value: unknown, source: string): unknown {
  const want = typeof DEFAULTS[key]
  if (want === 'number') {
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new ConfigError(`${source}: ${key} must be a non-negative number, not ${JSON.stringify(value)}`)
    return n
  }
  if (want === 'boolean') {
    if (typeof value === 'boolean') return value
    if (value === 'true' || value === '1') return true
    if (value === 'false' || value === '0') return false
    throw new ConfigError(`${source}: ${key} must be true or false, not ${JSON.stringify(value)}`)
  }
  if (typeof value !== 'string') throw new ConfigError(`${source}: ${key} must be a string`)
  return value
}

/** Check a whole config and fill defaults; throws ConfigError naming the first problem. */
export function resolveConfig(partial: Partial<BrokerConfig>, source = 'config'): BrokerConfig {
  const out: Record<string, unknown> = { ...DEFAULTS }
  for (const [k, v] of Object.entries(partial)) {
    if (v === undefined) continue
    if (!(k in DEFAULTS)) throw new ConfigError(`${source}: unknown option ${JSON.stringify(k)}`)
    out[k] = coerce(k as ConfigKey, v, source)
  }
  const c = out as unknown as BrokerConfig
  parseFsync(c.fsync)
  if (!Number.isInteger(c.port) || c.port > 65535) throw new ConfigError(`port must be 0-65535, not ${c.port}`)
  if (!Number.isInteger(c.workers) || c.workers < 1 || c.workers > 64) throw new ConfigError(`workers must be 1-64, not ${c.workers}`)
  if (c.maxFrame < 1024) throw new ConfigError(`maxFrame must be at least 1024 bytes`)
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(c.logLevel)) throw new ConfigError(`logLevel must be debug, info, warn, error or silent`)
  const observabilityProblem = observabilityConfigProblem(c)
  if (observabilityProblem) throw new ConfigError(observabilityProblem)
  if (c.advertise !== '' && parseAdvertise(c.advertise) === undefined) throw new ConfigError(`advertise must be host:port (a port 1-65535), not ${JSON.stringify(c.advertise)}`)
  const clusterProblem = clusterConfigProblem(c)
  if (clusterProblem) throw new ConfigError(clusterProblem)
  const securityProblem = securityConfigProblem(c)
  if (securityProblem) throw new ConfigError(securityProblem)
  return c
}

/** `host:port` (an IPv6 host in brackets: `[::1]:7600`) as its parts; undefined when it is not one. */
export function parseAdvertise(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(value)
  const port = m ? Number(m[3]) : 0
  if (!m || port < 1 || port > 65535) return undefined
  return { host: m[1] ?? m[2]!, port }
}

/** Options from SKIFF_* environment variables. */
export function fromEnv(env: NodeJS.ProcessEnv): Partial<BrokerConfig> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(DEFAULTS) as ConfigKey[]) {
    const v = env[envName(key)]
    if (v !== undefined && v !== '') out[key] = coerce(key, v, envName(key))
  }
  return out as Partial<BrokerConfig>
}

export function fromFile(path: string): Partial<BrokerConfig> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`config file ${path} must hold a JSON object`)
  for (const [k, v] of Object.entries(value)) {
    if (!(k in DEFAULTS)) throw new ConfigError(`config file ${path}: unknown option ${JSON.stringify(k)}`)
    ;(value as Record<string, unknown>)[k] = coerce(k as ConfigKey, v, path)
  }
  return value as Partial<BrokerConfig>
}

/** flags > env > file > defaults. */
export function loadConfig(flags: Partial<BrokerConfig>, env: NodeJS.ProcessEnv, configFile?: string): BrokerConfig {
  const file = configFile ? fromFile(configFile) : {}
  return resolveConfig({ ...file, ...fromEnv(env), ...stripUndefined(flags) })
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** One line per option, shown by `skiff broker --help`. */
export const DESCRIPTIONS: Record<ConfigKey, string> = {
  host: 'address to listen on (0.0.0.0 listens on every interface)',
  port: 'TCP port for the protocol (0 = any free port)',
  dataDir: 'directory for topic logs and group state',
  workers: 'partition worker threads',
  fsync: 'always (group commit before every confirm), interval:<ms>, or never',
  maxFrame: 'largest frame in bytes either side may send',
  autoCreateTopics: 'create a topic on its first publish or subscribe',
  defaultPartitions: 'partitions of an auto-created topic',
  segmentBytes: 'segment file size for new topics',
  retentionMs: 'default age limit for new topics (0 = keep forever)',
  retentionBytes: 'default size limit per partition for new topics (0 = unlimited)',
  ackTimeoutMs: 'default time a consumer has to ack a delivery',
  maxDeliveries: 'default deliveries before a message is dead-lettered',
  heartbeatMs: 'PING interval asked of clients',
  idleTimeoutMs: 'drop a connection silent for this long (0 = never)',
  authTimeoutMs: 'drop a connection without a valid HELLO after this long',
  maxPendingBytes: 'unwritten bytes after which a connection is a slow consumer',
  maxConnectionPublishBytes: 'unconfirmed publish bytes after which a connection is not read',
  groupCommitMs: 'how often consumer-group positions are written to disk',
  retentionCheckMs: 'how often retention runs (0 = never)',
  drainTimeoutMs: 'how long shutdown waits for in-flight publishes',
  logLevel: 'debug, info, warn, error or silent',
  httpPort: 'HTTP port for /metrics, /healthz and /readyz (when port is 0 and this is 9600, any free port)',
  httpHost: 'address for the HTTP port (/metrics, /healthz, /readyz, the panel); loopback unless given, e.g. 0.0.0.0 for a Prometheus on another machine (empty = the same as host)',
  udp: 'accept UDP telemetry datagrams (--no-udp turns it off)',
  udpPort: 'UDP port for telemetry (0 = the same number as the TCP port)',
  udpMaxDatagram: 'largest UDP datagram accepted in bytes; bigger ones are dropped and counted',
  statsd: 'host:port to push StatsD lines to (empty = off)',
  statsdIntervalS: 'seconds between StatsD pushes',
  maxMetricTopics: 'topics with their own metric series; the rest share topic="_other"',
  maxMetricGroups: 'consumer groups with their own metric series; the rest share group="_other"',
  authFile: 'JSON file of users, tokens and topic permissions (reloaded on SIGHUP; see SECURITY.md); without it the broker listens on loopback only',
  allowAnonymous: 'without an auth file, listen on a non-loopback host anyway: anyone who reaches the port may do anything',
  tlsCert: 'PEM certificate (chain) for TLS on the protocol port (skiffs://); needs tlsKey',
  tlsKey: 'PEM private key of tlsCert',
  tlsCa: 'PEM CA bundle for client certificates (mTLS); a verified certificate whose name (in the fields tlsUserFields lists) is a user name logs in as that user',
  tlsVerifyClients: 'refuse TLS clients without a certificate signed by tlsCa',
  maxConnections: 'most client connections at once (0 = no limit)',
  maxConnectionsPerIp: 'most connections at once from one IP address (0 = no limit)',
  maxSubscriptionsPerConnection: 'most subscriptions one connection may hold (0 = no limit)',
  maxTopics: 'most topics clients may create, counting dead-letter topics (which the broker still creates past it) (0 = no limit)',
  maxPartitionsPerTopic: 'most partitions a topic may be created with',
  maxTotalPendingBytes: 'unwritten output in bytes across all connections; past it the connections holding the most are cut as slow consumers',
  maxTotalPartialFrameBytes: 'bytes of partly received frames across all connections; past it the connections holding the most are cut',
  maxTotalPublishBytes: 'unconfirmed publish bytes across all connections; past it publishing connections stop being read until confirms catch up',
  maxRequestsPerConnection: 'requests one connection may have waiting for replies (0 = no limit)',
  maxPendingRequests: 'requests waiting for replies broker-wide; past it the oldest request of the connection holding the most is failed',
  maxFailedLoginsPerIp: 'failed logins per minute from one IP address (HELLO and the HTTP panel) before its logins are refused until the budget refills (0 = no limit)',
  tlsUserFields: 'fields of a verified client certificate that may name a user, tried in this order: a comma list of cn, dns, email, uri',
  httpAllowedHosts: 'host names (comma list) the panel and /api accept in the Host header besides IP addresses, localhost and *.localhost',
  advertise: 'host:port clients are told to reach this broker at (METADATA); empty = the address each connection reached',
  cluster: 'etcd members to join a cluster through (etcd://h1:2379,h2:2379); empty = a single broker',
  brokerId: 'this broker\'s id in its cluster (distinct per broker, 0-65535)',
  clusterName: 'the cluster\'s name (its keys in etcd live under /skiff/<name>/)',
  replicaLagMs: 'a follower behind its leader for longer than this leaves the in-sync set',
}
