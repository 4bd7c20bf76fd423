#!/usr/bin/env node
/**
 * What consumer-group state saves cost a partition worker's disk and libuv
 * pool, and what they do to the log's fdatasync beside them, in a temp dir
 * on the same file system as the broker's data (default: the OS temp dir).
 *
 *   node bench/micro/group-saves.mjs [--partitions 256] [--seconds 5] [--every-ms 200] [--dir /path] [--json]
 *
 * Each of `--partitions` partition directories holds one group (100 acked
 * or in-flight offsets, about the size of a busy group's snapshot). Every
 * `--every-ms` (the broker's groupCommitMs) each partition starts a
 * periodic save of its group, as worker/group-saver.ts does: on the libuv
 * pool, at most one per group in flight. Beside them a log file is
 * appended (1,400 B, S5's millisecond of records) and fdatasynced back to
 * back on the same pool, as the log syncer does under fsync 'always'.
 *
 * Prints the saves done and their time to durable, and the log's fdatasync
 * latency as the worker sees it (queued behind the saves' calls on the
 * pool, and behind their syncs in the file system's journal): what group
 * state costs the confirms. Uses the built broker (dist/): run `npm run
 * build` first. Both kinds of save are timed by the same script, so it
 * compares builds: run it in each and compare.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { exactPercentiles } from '../lib/percentiles.mjs'

const { values } = parseArgs({
  options: {
    partitions: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '5' },
    'every-ms': { type: 'string', default: '200' },
    dir: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})
function usage(problem) {
  process.stderr.write(`group-saves: ${problem}\nusage: node bench/micro/group-saves.mjs [--partitions N] [--seconds N] [--every-ms N] [--dir PATH] [--json]\n`)
  process.exit(2)
}
const partitions = Number(values.partitions)
const seconds = Number(values.seconds)
const everyMs = Number(values['every-ms'])
if (!(Number.isInteger(partitions) && partitions >= 1 && partitions <= 4096)) usage('--partitions must be an integer from 1 to 4,096')
if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= 60)) usage('--seconds must be a number above 0 and at most 60')
if (!(Number.isInteger(everyMs) && everyMs >= 10 && everyMs <= 10_000)) usage('--every-ms must be an integer from 10 to 10,000')

const built = fileURLToPath(new URL('../../dist/broker/storage/group-state.js', import.meta.url))
if (!fs.existsSync(built)) usage(`${built} is missing: run npm run build first`)
const store = await import(built)

const root = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'skiff-group-saves-'))
const snapshot = (i) => ({
  next: 10_000 + i,
  floor: 9_800 + i,
  acked: Array.from({ length: 50 }, (_, k) => 9_801 + i + 2 * k),
  deliveries: Array.from({ length: 50 }, (_, k) => [9_802 + i + 2 * k, 1]),
  journal: i,
})

/** Exact percentiles in ms of the samples. */
const percentiles = (ms) => {
  const { count, p50, p99, max } = exactPercentiles(ms)
  return { count, p50, p99, max }
}

const groups = []
for (let p = 0; p < partitions; p++) {
  const dir = path.join(root, `p${p}`, 'groups')
  fs.mkdirSync(dir, { recursive: true })
  // The group's first snapshot, as a SUBSCRIBE makes it (synchronous, by rename).
  store.saveGroupState(dir, 'g', snapshot(0))
  // Builds from before saves went in place take no `files` argument and ignore it.
  groups.push({ dir, files: store.readGroupFiles?.(dir, 'g'), saving: false })
}

const saveMs = []
let round = 0
let stopped = false
function saveRound() {
  round++
  for (const g of groups) {
    if (g.saving) continue
    g.saving = true
    const t = performance.now()
    store
      .saveGroupStateAsync(g.dir, 'g', snapshot(round), g.files)
      .then((files) => {
        g.files = files
        saveMs.push(performance.now() - t)
      })
      .finally(() => (g.saving = false))
  }
}

async function logLoop() {
  const fh = await fs.promises.open(path.join(root, 'log'), 'a')
  const buf = Buffer.alloc(1400, 7)
  const ms = []
  try {
    while (!stopped) {
      await fh.write(buf)
      const t = performance.now()
      await fh.datasync()
      ms.push(performance.now() - t)
    }
  } finally {
    await fh.close()
  }
  return ms
}

const start = performance.now()
const timer = setInterval(saveRound, everyMs)
saveRound()
const logged = logLoop()
await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
stopped = true
clearInterval(timer)
const logMs = await logged
const elapsed = (performance.now() - start) / 1000
while (groups.some((g) => g.saving)) await new Promise((resolve) => setTimeout(resolve, 5))
fs.rmSync(root, { recursive: true, force: true })

const result = {
  micro: 'group-saves',
  partitions,
  seconds: elapsed,
  everyMs,
  inPlace: typeof store.readGroupFiles === 'function',
  saves: { ...percentiles(saveMs), perSecond: saveMs.length / elapsed },
  logDatasync: { ...percentiles(logMs), perSecond: logMs.length / elapsed },
}
if (values.json) process.stdout.write(JSON.stringify(result) + '\n')
else {
  const f = (x) => x.toFixed(2)
  process.stdout.write(
    `${partitions} partitions, a save each every ${everyMs} ms, ${elapsed.toFixed(1)} s (${result.inPlace ? 'in-place saves' : 'saves by rename'})\n` +
      `  group saves: ${result.saves.count} (${Math.round(result.saves.perSecond)}/s), to durable p50 ${f(result.saves.p50)} ms  p99 ${f(result.saves.p99)} ms  max ${f(result.saves.max)} ms\n` +
      `  log fdatasync beside them: ${result.logDatasync.count} (${Math.round(result.logDatasync.perSecond)}/s), p50 ${f(result.logDatasync.p50)} ms  p99 ${f(result.logDatasync.p99)} ms  max ${f(result.logDatasync.max)} ms\n`,
  )
}
