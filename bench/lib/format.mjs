/** Number and table formatting for the terminal and for RESULTS.md (pure functions). */

/** 1234567 -> "1,234,567"; fractions keep `digits` decimals. */
export function num(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a'
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** Milliseconds with precision that suits their size: 0.412, 3.21, 48.2, 1,203. */
export function ms(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a'
  if (v < 1) return v.toFixed(3)
  if (v < 10) return v.toFixed(2)
  if (v < 100) return v.toFixed(1)
  return num(v)
}

/** Right-align cells that look like numbers, left-align the rest. */
const numeric = (s) => /^[-+]?[\d,.]+%?$/.test(s) || s === 'n/a'

/**
 * A plain-text table: columns sized to their widest cell, a dashed rule under
 * the header.
 * @param {string[]} header
 * @param {string[][]} rows
 */
export function textTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (cells) =>
    cells
      .map((c, i) => {
        const s = String(c ?? '')
        return numeric(s) && i > 0 ? s.padStart(widths[i]) : s.padEnd(widths[i])
      })
      .join('  ')
      .trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** A GitHub-flavoured Markdown table; numeric columns right-aligned. */
export function markdownTable(header, rows) {
  const esc = (s) => String(s ?? '').replace(/\|/g, '\\|')
  const rightAligned = header.map((_, i) => i > 0 && rows.length > 0 && rows.every((r) => numeric(String(r[i] ?? ''))))
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${rightAligned.map((r) => (r ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${header.map((_, i) => esc(r[i])).join(' | ')} |`),
  ].join('\n')
}
