/**
 * The embedded topology's part of bench/RESULTS.md: shown first, right under
 * the page's title, between two marker comments, so that recording one
 * topology rewrites its own part and leaves the other's text (its date,
 * machine and commit) exactly as it was recorded.
 *
 *   # skiffmq bench results
 *   <!-- embedded topology: begin --> ... <!-- embedded topology: end -->
 *   (the multi-process part, as lib/results.mjs writes it)
 */
import { markdownTable, num } from '../lib/format.mjs'
import { timerLatenessLines } from '../lib/summary.mjs'
import { EMBEDDED_HEADER, embeddedRows } from './table.mjs'
import { LATENCY_SVG, THROUGHPUT_SVG } from './charts.mjs'

export const TITLE = '# skiffmq bench results'
export const BEGIN = '<!-- embedded topology: begin -->'
export const END = '<!-- embedded topology: end -->'

const loadRange = (loads) => {
  const [lo, hi] = [num(Math.min(...loads), 1), num(Math.max(...loads), 1)]
  return lo === hi ? lo : `${lo}–${hi}`
}

/** The section's Markdown, markers included, from the embedded records of one recorded run. */
export function embeddedSection(records, { machine, date } = {}) {
  const first = records[0] ?? {}
  const when = (first.recordedAt ? new Date(first.recordedAt) : (date ?? new Date())).toISOString().slice(0, 16).replace('T', ' ')
  const brokers = [...new Set(records.map((r) => r.broker))]
  const warm = records.some((r) => r.warmup)
  const loads = records.map((r) => r.loadBefore).filter((v) => typeof v === 'number')
  const out = [BEGIN, '## Embedded topology: one application process per run', '']
  out.push(
    `Recorded ${when} UTC by \`${first.command ?? 'node bench/run.mjs --topology embedded --record'}\` (${first.mode ?? 'quick'} mode, ${warm ? 'after a warm-up' : 'cold'}), commit ${first.commit ?? 'unknown'}, Node ${first.node ?? process.version}${machine ? `, ${machine.cpu}, ${machine.cores} cores` : ''}${loads.length ? `; 1-minute load average before the runs ${loadRange(loads)}` : ''}.`,
    '',
    `Each run starts a fresh server of the broker named, then one application process that holds every client of the scenario: the consumers on its main thread, every producer connection in one worker thread, each broker spoken to through its own Node client (${brokers.join(', ')}). The scenarios and their sizes are those of the multi-process topology below, with their processes collapsed into the one application process. "Durability" says what a confirm means in the mode each broker ran; skiffmq / best other divides skiffmq's figure by the best other broker's of the same run (for p99, lower is better). RSS and CPU are the server process's. Definitions and commands: [README.md](README.md#embedded-topology).`,
    '',
    `![embedded throughput](charts/${THROUGHPUT_SVG})`,
    '',
    `![embedded p99 latency](charts/${LATENCY_SVG})`,
    '',
    markdownTable(EMBEDDED_HEADER, embeddedRows(records)),
    '',
    // The machine's scheduling noise beside the latency runs, as the multi-process part has it.
    ...timerLatenessLines(records).flatMap((l) => [l, '']),
    'The sections below are the multi-process topology (producers and consumers in processes of their own).',
    END,
  )
  return out.join('\n')
}

/** A RESULTS.md text cut into its embedded section (or null) and the multi-process part after the title. */
export function splitResults(text) {
  let rest = text.startsWith(TITLE) ? text.slice(TITLE.length) : text
  let embedded = null
  const b = rest.indexOf(BEGIN)
  const e = rest.indexOf(END)
  if (b >= 0 && e > b) {
    embedded = rest.slice(b, e + END.length)
    rest = rest.slice(0, b) + rest.slice(e + END.length)
  }
  return { embedded, processes: rest.replace(/^\s+/, '') }
}

/** The page: title, the embedded section when there is one, the multi-process part. */
export function composeResults({ embedded, processes }) {
  return [TITLE, '', ...(embedded ? [embedded, ''] : []), processes.replace(/^\s+/, '')].join('\n')
}
