#!/usr/bin/env node
/**
 * Summarise the .cpuprofile files that `run.mjs --profile DIR` leaves (one
 * per process and thread, in DIR/broker, DIR/producer, DIR/consumer): for each,
 * the functions with the most self time and the most inclusive time, as a
 * share of the thread's busy (non-idle) samples, with file:line.
 *
 *   node bench/profile-summary.mjs DIR [--top N] [--json] [--all]
 *
 * run.mjs writes DIR/window.json with the measured phase (monotonic µs); only
 * samples inside it count, so process start-up and shutdown stay out of the
 * shares. --all counts every sample instead.
 */
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { textTable } from './lib/format.mjs'
import { summariseProfile } from './lib/cpuprofile.mjs'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' }, json: { type: 'boolean', default: false }, all: { type: 'boolean', default: false } } })
const dir = positionals[0]
if (!dir) {
  process.stderr.write('usage: node bench/profile-summary.mjs DIR [--top N] [--json]\n')
  process.exit(2)
}
const top = Number(values.top)

function profilesUnder(d) {
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(d, e.name)
    return e.isDirectory() ? profilesUnder(p) : e.name.endsWith('.cpuprofile') ? [p] : []
  })
}

/** DIR/<run>/window.json for DIR/<run>/<process kind>/CPU...cpuprofile, when it exists. */
function windowFor(file) {
  if (values.all) return undefined
  const w = path.join(path.dirname(path.dirname(file)), 'window.json')
  return fs.existsSync(w) ? JSON.parse(fs.readFileSync(w, 'utf8')) : undefined
}

for (const file of profilesUnder(path.resolve(dir)).sort()) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
  // Node names profiles CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
  const m = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(file)
  const thread = m ? (m[2] === '0' ? 'main thread' : `worker thread ${m[2]}`) : 'thread ?'
  const who = `${path.relative(path.resolve(dir), path.dirname(file)) || '.'} pid ${m?.[1] ?? '?'} ${thread}`
  const s = summariseProfile(profile, top, windowFor(file))
  if (values.json) {
    process.stdout.write(JSON.stringify({ file, who, ...s }) + '\n')
    continue
  }
  const pct = (v) => `${v.toFixed(1)}%`
  process.stdout.write(`\n== ${who}: ${s.durationSeconds.toFixed(2)} s ${windowFor(file) ? 'in the measured phase' : 'profiled'}, ${pct(s.busyPct)} busy (GC ${pct(s.gcPct)} of busy)\n`)
  process.stdout.write('-- self time (% of busy)\n')
  process.stdout.write(textTable(['%', 'function', 'where'], s.self.map((f) => [pct(f.pct), f.name, f.where])) + '\n')
  process.stdout.write('-- inclusive time (% of busy)\n')
  process.stdout.write(textTable(['%', 'function', 'where'], s.total.map((f) => [pct(f.pct), f.name, f.where])) + '\n')
}
