/**
 * Durations and sizes as people read them, for the CLI's text output
 * (`7 days`, `1 h 30 min`, `64 MiB`, `1.5 GiB`). `--json` output keeps the
 * exact numbers (milliseconds, bytes); these are only for eyes. And as people
 * type them on the command line (`7d`, `1GiB`), for `skiff topics alter`: a
 * bare number is milliseconds or bytes; `0` or `forever` / `unlimited` means
 * no limit, as retention 0 does.
 *
 * Decisions:
 * - Sizes in binary units (KiB = 1024 bytes), as segment and retention sizes
 *   are set in powers of two, with at most two decimals ("1.33 GiB"): the
 *   exact count is one `--json` away.
 * - Durations are exact: every non-zero unit from days down to seconds
 *   ("1 day 2 h 3 min 4 s"), milliseconds as a fraction of the seconds
 *   ("1 min 1.5 s"), and below a second in ms. No weeks or months: "14 days"
 *   is clearer than "2 weeks" next to a setting named in days.
 */
import { CliFailure } from './client-common.js'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** `ms` as "7 days", "1 h 30 min", "1.5 s", "250 ms"; non-finite or negative values as they are. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return `${ms} ms`
  if (ms < SECOND) return `${trim(ms, 3)} ms`
  const parts: string[] = []
  let rest = ms
  const days = Math.floor(rest / DAY)
  rest -= days * DAY
  const hours = Math.floor(rest / HOUR)
  rest -= hours * HOUR
  const minutes = Math.floor(rest / MINUTE)
  rest -= minutes * MINUTE
  if (days > 0) parts.push(`${days} ${days === 1 ? 'day' : 'days'}`)
  if (hours > 0) parts.push(`${hours} h`)
  if (minutes > 0) parts.push(`${minutes} min`)
  if (rest > 0) parts.push(`${trim(rest / SECOND, 3)} s`)
  return parts.join(' ')
}

const SIZE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']

/** `bytes` as "1 byte", "512 bytes", "64 MiB", "1.5 GiB"; non-finite or negative values as they are. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return `${bytes} bytes`
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`
  let unit = -1
  let v = bytes
  // Move up while the value would print as 1024 or more once rounded (1023.999 KiB is "1 MiB").
  while (unit < SIZE_UNITS.length - 1 && Math.round((v / 1024) * 100) / 100 >= 1) {
    v /= 1024
    unit++
    if (Math.round(v * 100) / 100 < 1024) break
  }
  return `${trim(v, 2)} ${SIZE_UNITS[unit]}`
}

/** `n` with at most `decimals` decimals, no trailing zeros. */
function trim(n: number, decimals: number): string {
  return String(Number(n.toFixed(decimals)))
}


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
