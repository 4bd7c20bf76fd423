/**
 * Why `skiff broker` could not start, as one line naming the problem and the
 * flag that changes it: a port in use or not allowed, a data directory it
 * cannot write, a bad config value. The stack trace is for --debug.
 */
import fs from 'node:fs'
import path from 'node:path'
import { ConfigError, DEFAULTS, type BrokerConfig } from '../broker/config.js'

type SysError = NodeJS.ErrnoException & { port?: number; address?: string; hostname?: string }

/**
 * The data directory exists (made if missing) and this user may read, write
 * and enter it. Checked before start because a broker on a read-only data
 * directory would otherwise start, say "listening", and fail only at the
 * first topic creation. Throws the system error (EACCES, EROFS, ENOTDIR ...).
 */
export function checkDataDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true })
  fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK)
}

/** The listener a failed listen()/bind() belonged to, and the flag that moves it. */
function listenerOf(e: SysError, config: BrokerConfig): { what: string; flag: string } {
  // UDP sockets fail in bind(), TCP servers in listen(); the HTTP server listens first, on its own port.
  if (e.syscall === 'bind') return { what: 'UDP port', flag: '--udp-port, or --no-udp' }
  const httpPort = config.port === 0 && config.httpPort === DEFAULTS.httpPort ? 0 : config.httpPort
  if (e.port !== undefined && e.port === httpPort && httpPort !== config.port) return { what: 'HTTP port', flag: '--http-port' }
  return { what: 'port', flag: '--port' }
}

const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a path component is not a directory',
  EEXIST: 'a file of that name is in the way',
}

/** One line (without the "skiff broker: " prefix) saying why the broker did not start. */
export function startFailureMessage(err: unknown, config: BrokerConfig): string {
  if (err instanceof ConfigError) return `${err.message} (see skiff broker --help)`
  const e = err as SysError
  if (e && (e.syscall === 'listen' || e.syscall === 'bind')) {
    const { what, flag } = listenerOf(e, config)
    if (e.code === 'EADDRINUSE') return `${what} ${e.port} is already in use (another broker? pass ${flag})`
    if (e.code === 'EACCES') return `no permission to listen on ${what} ${e.port} (ports below 1024 need root or CAP_NET_BIND_SERVICE; pass ${flag})`
    if (e.code === 'EADDRNOTAVAIL') return `cannot listen on ${e.address}: that address is not on this machine (pass --host${what === 'HTTP port' ? ' or --http-host' : ''})`
  }
  if (e && e.code === 'ENOTFOUND' && e.syscall === 'getaddrinfo') return `cannot listen on ${e.hostname}: no such host name (pass --host or --http-host)`
  if (e && typeof e.code === 'string' && FS_REASONS[e.code] && typeof e.path === 'string') {
    if (onPath(e.path, config.dataDir)) {
      return `cannot use the data directory ${config.dataDir}: ${FS_REASONS[e.code]} (${e.path}); pass --data-dir, or give this user a directory it can write`
    }
    return `cannot use ${e.path}: ${FS_REASONS[e.code]}`
  }
  return err instanceof Error ? err.message : String(err)
}

/** `file` is the directory `dir`, inside it, or one of its parents (a recursive mkdir fails there). */
function onPath(file: string, dir: string): boolean {
  const f = path.resolve(file)
  const d = path.resolve(dir)
  const inside = (a: string, b: string) => {
    const rel = path.relative(b, a)
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
  }
  return inside(f, d) || inside(d, f)
}
