/**
 * The bench's charts as standalone SVG text (no dependency, no browser): a
 * horizontal bar chart with an optional log axis and target markers, and a
 * line chart. Pure functions of their data, so the same results always give
 * the same bytes and the charts can be regenerated from results.jsonl.
 *
 * Log axes: the figures span four orders of magnitude (a 64 KiB message rate
 * and a 1,000,000 msgs/s target on one chart), which a linear axis would
 * flatten into slivers.
 */

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'
export const PALETTE = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#d53f8c', '#718096']
const TARGET_COLOUR = '#c53030'

export function escapeXml(s) {
  return String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c])
}

/** 1500 -> "1.5k", 2000000 -> "2M", 0.25 -> "0.25". */
export function compact(v) {
  const a = Math.abs(v)
  const trim = (x) => String(Number(x.toPrecision(3)))
  if (a >= 1e6) return trim(v / 1e6) + 'M'
  if (a >= 1e3) return trim(v / 1e3) + 'k'
  return trim(v)
}

/**
 * An axis from lo to hi: on a log axis the powers of ten that cover the data,
 * on a linear one 0 to a round number above hi, each with tick values.
 */
export function axis(values, log) {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0)
  if (log) {
    const lo = pos.length ? 10 ** Math.floor(Math.log10(Math.min(...pos))) : 1
    let hi = pos.length ? 10 ** Math.ceil(Math.log10(Math.max(...pos))) : 10
    if (hi <= lo) hi = lo * 10
    const ticks = []
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(Number(t.toPrecision(1)))
    return { lo, hi, log, ticks, at: (v) => (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) }
  }
  const max = pos.length ? Math.max(...pos) : 1
  const step = niceStep(max / 5)
  const hi = Math.ceil(max / step) * step
  const ticks = []
  for (let t = 0; t <= hi + step / 2; t += step) ticks.push(Number(t.toPrecision(6)))
  return { lo: 0, hi, log, ticks, at: (v) => Math.max(0, v) / hi }
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw))
  const m = raw / p
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p
}

const text = (x, y, s, attrs = '') => `<text x="${r(x)}" y="${r(y)}" ${attrs}>${escapeXml(s)}</text>`
const r = (v) => Math.round(v * 10) / 10

function legend(series, x, y) {
  return series
    .map((s, i) => {
      const lx = x + i * 130
      return `<rect x="${lx}" y="${y - 9}" width="12" height="12" fill="${s.colour ?? PALETTE[i % PALETTE.length]}"/>` + text(lx + 17, y + 1, s.name, 'font-size="12"')
    })
    .join('')
}

/**
 * Horizontal bars, one group per category, one bar per series.
 * @param {{ title: string, unit: string, log?: boolean, series: {name: string, colour?: string}[],
 *           categories: { label: string, values: (number|null)[], target?: number, note?: string }[] }} c
 *   values[i] belongs to series[i]; null draws nothing (and "n/a"); target draws a red marker.
 */
export function barChart(c) {
  const width = 820
  const left = 230
  const right = 90
  const barH = 16
  const gap = 3
  const groupGap = 16
  const top = 58
  const groupH = c.series.length * (barH + gap) - gap
  const plotH = c.categories.length * (groupH + groupGap) - groupGap
  const height = top + plotH + 50
  const plotW = width - left - right
  const all = c.categories.flatMap((k) => [...k.values, k.target ?? null]).filter((v) => v !== null)
  const ax = axis(all, c.log ?? false)
  const x = (v) => left + ax.at(v) * plotW
  const parts = []
  parts.push(text(left, 24, c.title, 'font-size="16" font-weight="600"'))
  parts.push(legend(c.series, left, 44))
  if (c.categories.some((k) => k.target !== undefined)) {
    const lx = left + c.series.length * 130
    parts.push(`<line x1="${lx + 6}" y1="${35}" x2="${lx + 6}" y2="${47}" stroke="${TARGET_COLOUR}" stroke-width="3"/>` + text(lx + 17, 45, 'target', 'font-size="12"'))
  }
  for (const t of ax.ticks) {
    const tx = x(t)
    parts.push(`<line x1="${r(tx)}" y1="${top - 4}" x2="${r(tx)}" y2="${top + plotH + 4}" stroke="#e2e8f0"/>`)
    parts.push(text(tx, top + plotH + 20, compact(t), 'font-size="11" text-anchor="middle" fill="#4a5568"'))
  }
  parts.push(text(left + plotW / 2, top + plotH + 40, `${c.unit}${ax.log ? ' (log scale)' : ''}`, 'font-size="12" text-anchor="middle" fill="#4a5568"'))
  c.categories.forEach((k, gi) => {
    const gy = top + gi * (groupH + groupGap)
    parts.push(text(left - 10, gy + groupH / 2 + 4, k.label, 'font-size="12" text-anchor="end"'))
    k.values.forEach((v, si) => {
      const by = gy + si * (barH + gap)
      if (v === null || v === undefined || !Number.isFinite(v)) {
        parts.push(text(left + 4, by + barH - 4, k.note ?? 'n/a', 'font-size="11" fill="#718096"'))
        return
      }
      const w = Math.max(1, x(v) - left)
      parts.push(`<rect x="${left}" y="${r(by)}" width="${r(w)}" height="${barH}" fill="${c.series[si].colour ?? PALETTE[si % PALETTE.length]}"/>`)
      parts.push(text(left + w + 4, by + barH - 4, compact(v), 'font-size="11" fill="#2d3748"'))
    })
    if (k.target !== undefined) {
      const tx = x(k.target)
      parts.push(`<line x1="${r(tx)}" y1="${r(gy - 3)}" x2="${r(tx)}" y2="${r(gy + groupH + 3)}" stroke="${TARGET_COLOUR}" stroke-width="3"/>`)
    }
  })
  return wrap(width, height, parts)
}

/**
 * Lines over a shared numeric x axis (e.g. worker count), linear y from 0.
 * @param {{ title: string, xLabel: string, yLabel: string, xs: number[], series: { name: string, values: (number|null)[] }[] }} c
 */
export function lineChart(c) {
  const width = 640
  const height = 380
  const left = 80
  const right = 30
  const top = 58
  const bottom = 60
  const plotW = width - left - right
  const plotH = height - top - bottom
  const ay = axis(c.series.flatMap((s) => s.values).filter((v) => v !== null), false)
  const xMin = Math.min(...c.xs)
  const xMax = Math.max(...c.xs)
  const x = (v) => left + (xMax === xMin ? 0.5 : (v - xMin) / (xMax - xMin)) * plotW
  const y = (v) => top + plotH - ay.at(v) * plotH
  const parts = []
  parts.push(text(left, 24, c.title, 'font-size="16" font-weight="600"'))
  parts.push(legend(c.series, left, 44))
  for (const t of ay.ticks) {
    parts.push(`<line x1="${left}" y1="${r(y(t))}" x2="${left + plotW}" y2="${r(y(t))}" stroke="#e2e8f0"/>`)
    parts.push(text(left - 8, y(t) + 4, compact(t), 'font-size="11" text-anchor="end" fill="#4a5568"'))
  }
  for (const v of c.xs) parts.push(text(x(v), top + plotH + 20, String(v), 'font-size="11" text-anchor="middle" fill="#4a5568"'))
  parts.push(text(left + plotW / 2, height - 14, c.xLabel, 'font-size="12" text-anchor="middle" fill="#4a5568"'))
  parts.push(text(16, top + plotH / 2, c.yLabel, `font-size="12" text-anchor="middle" fill="#4a5568" transform="rotate(-90 16 ${r(top + plotH / 2)})"`))
  c.series.forEach((s, si) => {
    const colour = PALETTE[si % PALETTE.length]
    const pts = c.xs.map((xv, i) => [xv, s.values[i]]).filter(([, v]) => v !== null && v !== undefined && Number.isFinite(v))
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map(([a, b]) => `${r(x(a))},${r(y(b))}`).join(' ')}"/>`)
    for (const [a, b] of pts) {
      parts.push(`<circle cx="${r(x(a))}" cy="${r(y(b))}" r="4" fill="${colour}"/>`)
      // Odd series label below their points so two lines meeting do not print over each other.
      parts.push(text(x(a), si % 2 ? y(b) + 17 : y(b) - 9, compact(b), 'font-size="11" text-anchor="middle" fill="#2d3748"'))
    }
  })
  return wrap(width, height, parts)
}

function wrap(width, height, parts) {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n` +
    parts.join('\n') +
    '\n</svg>\n'
  )
}
