/**
 * Durations and sizes as people type them on the command line (`7d`,
 * `1GiB`), for `skiff topics alter`. A bare number is milliseconds or bytes;
 * `0` or `forever` / `unlimited` means no limit, as retention 0 does.
 */
import { CliFailure } from './client-common.js'

const MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
}

function parseWithUnits(flag: string, value: string, units: Record<string, number>, none: string, example: string): number {
  const v = value.trim().toLowerCase()
  if (v === none) return 0
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(v)
  const unit = m ? units[m[2] || Object.keys(units)[0]!] : undefined
  const n = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : NaN
  if (!Number.isSafeInteger(n) || n < 0) throw new CliFailure(`${flag} ${JSON.stringify(value)} must be ${example} (units: ${Object.keys(units).join(', ')}), or ${none}`)
  return n
}

/** `7d`, `12h`, `90m`, `30s`, `500ms` or a number of ms; `forever` or 0 keeps forever. */
export function parseDuration(flag: string, value: string): number {
  return parseWithUnits(flag, value, MS, 'forever', 'a duration like 7d or 12h')
}

/** `1GiB`, `500MB`, `4096` (bytes); `unlimited` or 0 keeps everything. */
export function parseBytes(flag: string, value: string): number {
  return parseWithUnits(flag, value, BYTES, 'unlimited', 'a size like 1GiB or 500MB')
}
