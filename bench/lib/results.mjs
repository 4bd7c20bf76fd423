/**
 * `--record`: bench/RESULTS.md (machine header, results against targets, every
 * run, S1's spread, pool scaling, fsync policies), bench/results.jsonl (the
 * raw records, so the page and charts can be rebuilt: `node bench/report.mjs`)
 * and bench/charts/*.svg.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BENCH_DIR } from './paths.mjs'
import { markdownTable, ms, num } from './format.mjs'
import { TABLE_HEADER, TIMER_LATENESS_NOTE, cpuPerMessage, headlineText, headlineValue, spread, tableRow, targetStatus } from './summary.mjs'
import { barChart, lineChart } from './svg.mjs'
import { composeResults, embeddedSection, splitResults } from '../embedded/results-section.mjs'
import { embeddedLatencyChart, embeddedThroughputChart, LATENCY_SVG, THROUGHPUT_SVG } from '../embedded/charts.mjs'

export function machineHeader() {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: os.totalmem() / 2 ** 30,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  }
}

/** Runs grouped by scenario and variant, in first-seen order. */
export function groupRuns(records) {
  const groups = new Map()
  for (const r of records) {
    const key = `${r.scenario}|${r.variant}`
    if (!groups.has(key)) groups.set(key, [])
    groups.get(key).push(r)
  }
  return [...groups.values()]
}

/** The run whose headline is the median of its group (the lower middle for an even count). */
export function representative(runs) {
  const ok = runs.filter((r) => headlineValue(r) !== null)
  if (ok.length === 0) return runs[0]
  const sorted = [...ok].sort((a, b) => headlineValue(a) - headlineValue(b))
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

/** Messages (deliveries for fan-out) per second: the throughput chart's figure for any scenario. */
function rate(r) {
  return r.metric === 'deliveriesPerSec' ? r.deliveriesPerSec : r.msgsPerSec
}

export function throughputChart(reps) {
  const rows = reps.filter((r) => !['S8', 'S9'].includes(r.scenario))
  return barChart({
    title: 'Throughput per scenario (median run)',
    unit: 'messages per second (S3: deliveries per second)',
    log: true,
    series: [{ name: 'measured' }],
    categories: rows.map((r) => ({
      label: `${r.scenario} ${r.name}`,
      values: [rate(r) ?? null],
      target: r.target && !r.target.below ? r.target.value : undefined,
      note: r.outcome === 'not available' ? 'not available' : undefined,
    })),
  })
}

export function latencyChart(reps) {
  const rows = reps.filter((r) => r.latency && !['S8', 'S9'].includes(r.scenario))
  return barChart({
    title: 'Publish-to-receive latency (median run)',
    unit: 'milliseconds',
    log: true,
    series: [{ name: 'p50' }, { name: 'p99' }, { name: 'p99.9' }, { name: 'max' }],
    categories: rows.map((r) => ({
      label: `${r.scenario} ${r.name}`,
      values: [r.latency.p50, r.latency.p99, r.latency.p999, r.latency.max],
      target: r.target?.below ? r.target.value : undefined,
    })),
  })
}

export function poolScalingChart(reps) {
  const s8 = reps.filter((r) => r.scenario === 'S8')
  const xs = [1, 2, 3, 4]
  const pick = (prefix) => xs.map((w) => rate(s8.find((r) => r.variant.startsWith(prefix) && r.workers === w) ?? {}) ?? null)
  return lineChart({
    title: 'Pool scaling: throughput by worker threads',
    xLabel: 'worker threads (--workers)',
    yLabel: 'per second',
    xs,
    series: [
      { name: 'S1 msgs/s', values: pick('S1') },
      { name: 'S3 deliveries/s', values: pick('S3') },
    ],
  })
}

export function fsyncChart(reps) {
  const s9 = reps.filter((r) => r.scenario === 'S9')
  return barChart({
    title: 'S1 by fsync policy',
    unit: 'messages per second',
    series: [{ name: 'msgs/s' }],
    categories: s9.map((r) => ({ label: r.fsync, values: [r.msgsPerSec ?? null] })),
  })
}

/**
 * The observer's timer lateness beside each run's own latency p99: a message
 * crosses ~5 thread wake-ups, so a machine slow to schedule threads raises p99
 * whatever the broker does. "—" for runs recorded before the bench had the observer.
 */
export function schedulingNoiseSection(reps) {
  const rows = reps
    .filter((r) => r.latency || r.timerLateness)
    .map((r) => {
      const t = r.timerLateness
      const cell = (v) => (t ? ms(v) : '—')
      return [`${r.scenario} ${r.name}`, r.variant, cell(t?.p99), cell(t?.p999), cell(t?.max), ms(r.latency?.p99)]
    })
  if (rows.length === 0) return []
  return [
    '## Machine scheduling noise',
    '',
    `Timer lateness, from the bench's observer process: ${TIMER_LATENESS_NOTE}. A message's latency crosses ~5 thread wake-ups (producer, broker gateway, broker worker, gateway, consumer), so the machine's scheduling delays show in the runs' p99; compare the two before blaming the broker.${rows.some((r) => r[2] === '—') ? ' "—": recorded before the bench had the observer.' : ''}`,
    '',
    markdownTable(['Scenario', 'Run', 'observer p99 ms', 'observer p99.9 ms', 'observer max ms', 'run latency p99 ms'], rows),
    '',
  ]
}

/** Runs of the embedded topology (bench/embedded/), which have a section of their own. */
export const isEmbedded = (r) => r.topology === 'embedded'

/** RESULTS.md's text for the multi-process topology (embedded runs are left out: see writeResults). */
export function resultsMarkdown(allRecords, { mode, commit, command, machine = machineHeader(), date = new Date() }) {
  const records = allRecords.filter((r) => !r.micro && !isEmbedded(r))
  const micro = allRecords.filter((r) => r.micro)
  const groups = groupRuns(records)
  const reps = groups.map(representative)
  const out = []
  out.push('# skiffmq bench results', '')
  out.push(`Recorded ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC by \`${command}\` (${mode} mode).`, '')
  out.push(
    markdownTable(
      ['Machine', ''],
      [
        ['CPU', machine.cpu],
        ['Cores', String(machine.cores)],
        ['Memory', `${num(machine.memoryGiB, 1)} GiB`],
        ['OS', machine.platform],
        ['Node', records[0]?.node ?? process.version],
        ['Commit', commit],
      ],
    ),
    '',
  )
  out.push('Scenario definitions: [README.md](README.md). Latency is publish-to-receive, from a stamp in each payload, over every message (HDR histogram). RSS is the broker process\'s peak resident set (VmHWM) over its life; CPU is its user+system seconds, all threads, during the measured phase. Where a scenario ran more than once, the median run is shown and the rest are in "Every run".', '')

  const warmed = records.filter((r) => r.warmup).length
  out.push(
    warmed === 0
      ? 'No run had a warm-up phase (cold processes, `--cold`, or records from before it existed).'
      : `${warmed} of ${records.length} runs started after a warm-up phase on a topic of their own, not counted (README.md, "Warm-up"); the others started cold.`,
    '',
  )

  const loads = records.map((r) => r.loadBefore).filter((v) => typeof v === 'number')
  if (loads.length > 0) {
    const lo = Math.min(...loads)
    const hi = Math.max(...loads)
    out.push(
      `The machine's 1-minute load average before each run (it counts this bench's own previous runs too) was ${num(lo, 1)}–${num(hi, 1)} on ${machine.cores} cores${hi > machine.cores ? ': other work competed for the CPU throughout, so rates and latencies are lower than on an idle machine; the CPU-per-message table is the steadier measure' : ''}.`,
      '',
    )
  }
  out.push('## Against the targets', '')
  const targetRows = reps
    .filter((r) => r.target)
    .map((r) => [`${r.scenario} ${r.name}`, r.target.text, headlineText(r), targetStatus(r) || r.outcome, `\`npx skiff bench ${r.scenario} --full\``])
  const rss = reps.filter((r) => ['S1', 'S2', 'S3', 'S4'].includes(r.scenario) && r.broker?.peakRssMiB)
  if (rss.length > 0) {
    const peak = Math.max(...rss.map((r) => r.broker.peakRssMiB))
    targetRows.push(['S1-S4 broker RSS', '< 150 MiB', `${num(peak)} MiB peak`, peak < 150 ? 'met' : 'missed', '(the RSS column below)'])
  }
  out.push(markdownTable(['Scenario', 'Target', 'Reached', 'Status', 'Command'], targetRows), '')

  out.push('## Results (median run)', '')
  out.push(markdownTable(TABLE_HEADER, reps.map(tableRow)), '')
  out.push(...schedulingNoiseSection(reps))

  const withCpu = reps.filter((r) => r.received > 0 && r.broker?.cpuSeconds !== null && r.broker?.cpuSeconds !== undefined)
  if (withCpu.length > 0) {
    out.push('## CPU per message', '')
    out.push(
      'CPU time (user + system) divided by messages, from /proc for the broker and process.cpuUsage() in the clients: it depends far less on what else the machine runs than msgs/s does. At 350,000 msgs/s, 2 cores give 5.7 µs per message for everything.',
      '',
    )
    const f = (v) => num(v, 1)
    const rows = withCpu.map((r) => {
      const c = cpuPerMessage(r)
      const total = [c.broker, c.sender].every((v) => v !== null) && c.consumer !== null ? c.broker + c.sender + c.consumer * (r.groups || 1) : null
      return [`${r.scenario} ${r.variant}`, f(c.broker), f(c.gateway), f(c.otherThreads), f(c.sender), f(c.consumer), f(total)]
    })
    out.push(markdownTable(['Run', 'broker µs/msg', 'gateway thread', 'other threads', 'sender µs/msg', 'consumer µs/delivery', 'all processes µs/msg'], rows), '')
  }

  const repeated = groups.filter((g) => g.length > 1)
  if (repeated.length > 0) {
    out.push('## Spread over repeated runs', '')
    out.push('The machine is shared and has 2 cores, so single runs are noisy; these scenarios ran several times.', '')
    const rows = repeated.map((g) => {
      const s = spread(g.map(headlineValue))
      return [`${g[0].scenario} ${g[0].variant}`, String(s.n), num(s.min), num(s.median), num(s.max), `${num(s.spreadPct, 0)}%`, g.map((r) => num(headlineValue(r))).join(', ')]
    })
    out.push(markdownTable(['Run', 'n', 'min', 'median', 'max', '(max-min)/median', 'each'], rows), '')
  }

  const s7 = reps.find((r) => r.scenario === 'S7' && r.udpDatagramsByResult)
  if (s7) {
    const byResult = s7.udpDatagramsByResult
    const accepted = byResult.accepted ?? 0
    const dropped = Object.entries(byResult).filter(([k, v]) => k !== 'accepted' && v > 0)
    const droppedTotal = dropped.reduce((a, [, v]) => a + v, 0)
    out.push('## S7 where datagrams went', '')
    out.push(
      markdownTable(
        ['Datagrams', 'count'],
        [
          ['sent by the telemetry client', num(s7.datagrams)],
          ['accepted by the broker', num(accepted)],
          [`dropped by the broker${dropped.length ? ` (${dropped.map(([k, v]) => `${k} ${num(v)}`).join(', ')})` : ''}`, num(droppedTotal)],
          ['never reached the broker (socket buffers)', num(Math.max(0, (s7.datagrams ?? 0) - accepted - droppedTotal))],
        ],
      ),
      '',
      'From the broker\'s `skiff_udp_datagrams_total` at the end of the run.',
      '',
    )
  }

  const s8 = reps.filter((r) => r.scenario === 'S8')
  if (s8.length > 0) {
    out.push('## S8 pool scaling', '')
    const rows = [1, 2, 3, 4].map((w) => {
      const a = s8.find((r) => r.variant.startsWith('S1') && r.workers === w)
      const b = s8.find((r) => r.variant.startsWith('S3') && r.workers === w)
      return [String(w), num(a?.msgsPerSec), ms(a?.latency?.p99), num(b?.deliveriesPerSec), ms(b?.latency?.p99), num(a?.broker?.peakRssMiB), num(b?.broker?.peakRssMiB)]
    })
    out.push(markdownTable(['Workers', 'S1 msgs/s', 'S1 p99 ms', 'S3 deliveries/s', 'S3 p99 ms', 'S1 RSS MiB', 'S3 RSS MiB'], rows), '')
    out.push('![pool scaling](charts/pool-scaling.svg)', '')
  }
  const s9 = reps.filter((r) => r.scenario === 'S9')
  if (s9.length > 0) {
    out.push('## S9 fsync policy', '')
    out.push(markdownTable(['fsync', 'S1 msgs/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU s'], s9.map((r) => [r.fsync, num(r.msgsPerSec), ms(r.latency?.p50), ms(r.latency?.p99), ms(r.latency?.p999), num(r.broker?.cpuSeconds, 1)])), '')
    out.push('![fsync policies](charts/fsync.svg)', '')
  }
  out.push('## Charts', '', '![throughput](charts/throughput.svg)', '', '![latency](charts/latency.svg)', '')

  const codec = micro.filter((r) => r.micro === 'codec')
  if (codec.length > 0) {
    out.push('## Codec micro-benchmark', '', '`node bench/micro/codec.mjs`: one thread, no sockets; each case in its own process.', '')
    out.push(markdownTable(['Case', 'ops/s', 'ns/op', 'msgs/s', 'ns/msg'], codec.map((r) => [r.name, num(r.opsPerSec), num(r.nsPerOp), num(r.messagesPerSec), num(r.nsPerMessage, 1)])), '')
  }
  const fsync = micro.find((r) => r.micro === 'fsync')
  if (fsync) {
    out.push('## Disk', '', `\`node bench/micro/fsync.mjs\`: fdatasync after ${num(fsync.bytes)}-byte appends, ${fsync.count} times.`, '')
    out.push(
      markdownTable(
        ['mean ms', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'S1 ceiling (1,000 / mean)'],
        [[ms(fsync.mean), ms(fsync.p50), ms(fsync.p90), ms(fsync.p99), ms(fsync.max), `${num(fsync.s1CeilingMsgsPerSec)} msgs/s`]],
      ),
      '',
    )
  }

  out.push('## Every run', '')
  out.push('"Load" is the machine\'s 1-minute load average just before the run (2 cores: above 2, other work was competing).', '')
  out.push(markdownTable(['#', ...TABLE_HEADER, 'Load'], records.map((r, i) => [String(i + 1), ...tableRow(r), num(r.loadBefore, 2)])), '')
  return out.join('\n')
}

/**
 * Write RESULTS.md and the charts into `dir` (default bench/); returns the paths
 * written. results.jsonl is the caller's: run.mjs appends each run as it ends.
 *
 * RESULTS.md holds both topologies, the embedded one first (its own section,
 * bench/embedded/results-section.mjs). `topology: 'embedded'` rewrites only
 * that section from the embedded records and keeps the multi-process part of
 * the existing page as it was recorded (its date, machine and commit); any
 * other topology rewrites the multi-process part and the charts, and the
 * embedded section from the embedded records given, or as it stands when none.
 */
export function writeResults(records, { mode, commit, command, dir = BENCH_DIR, topology = 'processes', date }) {
  const file = path.join(dir, 'RESULTS.md')
  const existing = splitResults(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '')
  const embeddedRecords = records.filter(isEmbedded)
  const machine = machineHeader()
  const embedded = embeddedRecords.length > 0 ? embeddedSection(embeddedRecords, { machine }) : existing.embedded
  if (topology === 'embedded') {
    const chartsDir = path.join(dir, 'charts')
    fs.mkdirSync(chartsDir, { recursive: true })
    const files = {
      [file]: composeResults({ embedded, processes: existing.processes }),
      [path.join(chartsDir, THROUGHPUT_SVG)]: embeddedThroughputChart(embeddedRecords),
      [path.join(chartsDir, LATENCY_SVG)]: embeddedLatencyChart(embeddedRecords),
    }
    for (const [f, body] of Object.entries(files)) fs.writeFileSync(f, body)
    return Object.keys(files).map((f) => path.relative(process.cwd(), f))
  }
  const processRecords = records.filter((r) => !isEmbedded(r))
  const reps = groupRuns(processRecords.filter((r) => !r.micro)).map(representative)
  const chartsDir = path.join(dir, 'charts')
  fs.mkdirSync(chartsDir, { recursive: true })
  const processes = splitResults(resultsMarkdown(processRecords, { mode, commit, command, machine, date })).processes
  const files = {
    [file]: composeResults({ embedded, processes }),
    [path.join(chartsDir, 'throughput.svg')]: throughputChart(reps),
    [path.join(chartsDir, 'latency.svg')]: latencyChart(reps),
  }
  if (reps.some((r) => r.scenario === 'S8')) files[path.join(chartsDir, 'pool-scaling.svg')] = poolScalingChart(reps)
  if (reps.some((r) => r.scenario === 'S9')) files[path.join(chartsDir, 'fsync.svg')] = fsyncChart(reps)
  for (const [f, body] of Object.entries(files)) fs.writeFileSync(f, body)
  return Object.keys(files).map((f) => path.relative(process.cwd(), f))
}
