#!/usr/bin/env node
/**
 * Rebuild bench/RESULTS.md and bench/charts/*.svg from recorded runs without
 * running anything: `node bench/report.mjs [results.jsonl]` (default
 * bench/results.jsonl, which `run.mjs --record` writes). The machine header is
 * this machine's, so run it where the results were taken. Runs of both
 * topologies (`topology` in each line) go to their own parts of the page.
 */
import fs from 'node:fs'
import path from 'node:path'
import { BENCH_DIR } from './lib/paths.mjs'
import { writeResults } from './lib/results.mjs'

const file = process.argv[2] ?? path.join(BENCH_DIR, 'results.jsonl')
const records = fs
  .readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l))
if (records.length === 0) {
  process.stderr.write(`${file} holds no runs\n`)
  process.exit(1)
}
// The multi-process runs give the page's header; embedded runs (bench/embedded/) rebuild their own section.
const runs = records.filter((r) => !r.micro && r.topology !== 'embedded')
const full = runs.every((r) => r.mode === 'full')
const written = writeResults(records, {
  mode: full ? 'full' : runs[0]?.mode,
  commit: runs[0]?.commit,
  command: runs[0]?.command ?? `node bench/run.mjs (rebuilt by node bench/report.mjs)`,
  // When the runs were taken, where the records say (older records do not: then now).
  date: runs[0]?.recordedAt ? new Date(runs[0].recordedAt) : undefined,
  // Only embedded runs in the file: rebuild that section and leave the multi-process part of the page as it is.
  topology: runs.length === 0 ? 'embedded' : 'processes',
})
process.stderr.write(`wrote ${written.join(', ')}\n`)
