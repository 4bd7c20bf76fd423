/**
 * The `fsync` setting and its one parser, apart from the rest of config.ts:
 * the partition workers need only this, and config.ts brings the checks of
 * every other setting (TLS, auth files, HTTP hosts) with the node modules
 * they use, about 1 MiB more in each worker's heap for nothing.
 */

export type FsyncPolicy = { mode: 'always' } | { mode: 'never' } | { mode: 'interval'; ms: number }

/** A setting the broker cannot start with (the CLI says which, exit code 2). */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function parseFsync(value: string): FsyncPolicy {
  if (value === 'always' || value === 'never') return { mode: value }
  const m = /^interval:(\d+)$/.exec(value)
  if (m && Number(m[1]) > 0) return { mode: 'interval', ms: Number(m[1]) }
  throw new ConfigError(`fsync must be always, never or interval:<ms>, not ${JSON.stringify(value)}`)
}
