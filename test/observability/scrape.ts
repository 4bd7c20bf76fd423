/**
 * Reading /metrics in tests: a small parser for the Prometheus text format
 * (one sample a line: `name{label="v",...} value`), and a bounded poll that
 * scrapes until the numbers match what a test expects.
 */
export type Samples = Map<string, number>

/** `name{a="1",b="2"}` with labels sorted, so tests can name a series in any label order. */
export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const keys = Object.keys(labels).sort()
  if (keys.length === 0) return name
  return `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}`
}

export function parseSamples(text: string): Samples {
  const out: Samples = new Map()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!
    out.set(seriesKey(m[1]!, labels), Number(m[3]))
  }
  return out
}

export async function scrape(httpPort: number): Promise<Samples> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return parseSamples(await res.text())
}

/** A series' value; 0 when absent (prom-client leaves out label sets never touched). */
export function value(s: Samples, name: string, labels: Record<string, string> = {}): number {
  return s.get(seriesKey(name, labels)) ?? 0
}

/** Sum of every series of `name` whose labels include `match`. */
export function sum(s: Samples, name: string, match: Record<string, string> = {}): number {
  let total = 0
  for (const [key, v] of s) {
    if (key !== name && !key.startsWith(`${name}{`)) continue
    if (Object.entries(match).every(([k, x]) => key.includes(`${k}="${x}"`))) total += v
  }
  return total
}

/**
 * Scrape until every expected series has its value (or `within` ms pass; then
 * the last scrape is returned so the test's assertions show what differed).
 */
/** Scrape until `ready` holds of a scrape (or `within` ms pass; then the last scrape). */
export async function scrapeWhen(httpPort: number, ready: (s: Samples) => boolean, within = 8000): Promise<Samples> {
  const deadline = Date.now() + within
  for (;;) {
    const s = await scrape(httpPort)
    if (ready(s) || Date.now() > deadline) return s
    await new Promise((r) => setTimeout(r, 50))
  }
}

export async function scrapeUntil(httpPort: number, expected: [name: string, labels: Record<string, string>, value: number][], within = 8000): Promise<Samples> {
  return scrapeWhen(httpPort, (s) => expected.every(([n, l, v]) => value(s, n, l) === v), within)
}
