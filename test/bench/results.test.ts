import t from 'tap'
// The bench is plain JavaScript (it runs without a build step); tap's loader imports it as is.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { groupRuns, representative, resultsMarkdown, throughputChart, writeResults } from '../../bench/lib/results.mjs'

const s1 = (repeat: number, msgsPerSec: number) => ({
  scenario: 'S1',
  name: 'durable-ack',
  variant: '200,000 x 128 B',
  mode: 'full',
  metric: 'msgsPerSec',
  target: { value: 350_000, text: '>= 350,000 msgs/s' },
  repeat,
  node: 'v20.0.0',
  outcome: 'complete',
  msgsPerSec,
  receivedFraction: 1,
  latency: { p50: 10, p90: 20, p99: 30, p999: 40, max: 50, mean: 12 },
  sent: 200_000,
  received: 200_000,
  groups: 1,
  broker: { peakRssMiB: 160, cpuSeconds: 2, mainThreadCpuSeconds: 0.5 },
  clients: { senderCpuSeconds: 1, consumerCpuSeconds: 1 },
})
const s7 = {
  scenario: 'S7',
  name: 'udp-telemetry',
  variant: 'x',
  mode: 'full',
  metric: 'receivedFraction',
  outcome: 'not available',
  unavailable: 'no telemetry()',
  broker: { peakRssMiB: 80, cpuSeconds: 0 },
}
const s7sent = {
  ...s7,
  outcome: 'incomplete',
  unavailable: undefined,
  datagrams: 1000,
  udpDatagramsByResult: { accepted: 800, garbage: 0, overloaded: 50 },
}
const machine = { cpu: 'Test CPU 9000', cores: 2, memoryGiB: 24, platform: 'Linux test x64' }

t.test('repeated runs are grouped and the median run represents them', async (t) => {
  const records = [s1(1, 90_000), s1(2, 150_000), s1(3, 100_000), s7]
  const groups = groupRuns(records)
  t.equal(groups.length, 2)
  t.equal(representative(groups[0]).repeat, 3)
  t.equal(representative([s1(1, 5), s1(2, 7)]).repeat, 1, 'lower middle of an even count')
})

t.test('RESULTS.md names the machine, the commit, each target with its figure, and the spread', async (t) => {
  const md = resultsMarkdown([s1(1, 90_000), s1(2, 150_000), s1(3, 100_000), s7], {
    mode: 'full',
    commit: 'abc123',
    command: 'node bench/run.mjs all --full --record',
    machine,
    date: new Date('2026-01-02T03:04:05Z'),
  })
  t.match(md, /Recorded 2026-01-02 03:04 UTC by `node bench\/run.mjs all --full --record`/)
  t.match(md, /\| CPU \| Test CPU 9000 \|/)
  t.match(md, /\| Cores \| 2 \|/)
  t.match(md, /\| Memory \| 24\.0 GiB \|/)
  t.match(md, /\| Node \| v20\.0\.0 \|/)
  t.match(md, /\| Commit \| abc123 \|/)
  t.match(md, /\| S1 durable-ack \| >= 350,000 msgs\/s \| 100,000 msgs\/s \| missed \|/)
  t.match(md, /\| S1-S4 broker RSS \| < 150 MiB \| 160 MiB peak \| missed \|/)
  t.match(md, /\| S1 200,000 x 128 B \| 3 \| 90,000 \| 100,000 \| 150,000 \| 60% \|/)
  t.match(md, /not available/)
  t.notMatch(md, /load average before each run/, 'no load figures, no load sentence')
  t.match(md, /!\[throughput\]\(charts\/throughput\.svg\)/)
  // 2 s of broker CPU over 200,000 messages, 0.5 s of it on the gateway thread; 1 s in each client.
  t.match(md, /\| S1 200,000 x 128 B \| 10\.0 \| 2\.5 \| 7\.5 \| 5\.0 \| 5\.0 \| 20\.0 \|/)
})

t.test('the load average before the runs is stated, with a warning when it passes the core count', async (t) => {
  const md = resultsMarkdown([{ ...s1(1, 1), loadBefore: 0.5 }, { ...s1(2, 2), loadBefore: 12.4 }], { mode: 'full', commit: 'x', command: 'c', machine })
  t.match(md, /load average before each run \(it counts this bench's own previous runs too\) was 0\.5–12\.4 on 2 cores: other work competed/)
})

t.test('S7 splits lost datagrams between the broker and the way there', async (t) => {
  const md = resultsMarkdown([s7sent], { mode: 'full', commit: 'x', command: 'c', machine })
  t.match(md, /\| accepted by the broker \| 800 \|/)
  t.match(md, /\| dropped by the broker \(overloaded 50\) \| 50 \|/)
  t.match(md, /\| never reached the broker \(socket buffers\) \| 150 \|/)
})

t.test('micro-benchmark records get their own sections and stay out of the scenario tables', async (t) => {
  const codec = { micro: 'codec', name: 'encodeRecord (128 B payload)', opsPerSec: 1_700_000, nsPerOp: 588, messagesPerSec: 1_700_000, nsPerMessage: 588 }
  const fsync = { micro: 'fsync', bytes: 140_000, count: 300, mean: 3.03, p50: 1.46, p90: 5.98, p99: 36.19, max: 86.63, s1CeilingMsgsPerSec: 330_033 }
  const md = resultsMarkdown([s1(1, 90_000), codec, fsync], { mode: 'full', commit: 'x', command: 'c', machine })
  t.match(md, /\| encodeRecord \(128 B payload\) \| 1,700,000 \| 588 \| 1,700,000 \| 588\.0 \|/)
  t.match(md, /\| 3\.03 \| 1\.46 \| 5\.98 \| 36\.2 \| 86\.6 \| 330,033 msgs\/s \|/)
  t.equal(groupRuns([s1(1, 90_000), codec].filter((r: { micro?: string }) => !r.micro)).length, 1)
})

t.test('the throughput chart has a bar for each measured scenario and says what is unavailable', async (t) => {
  const svg = throughputChart([s1(1, 90_000), s7])
  t.match(svg, />90k</)
  t.match(svg, />not available</)
})

t.test('writeResults writes the page and every chart for a full set of scenarios', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-results-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const run = (scenario: string, variant: string, extra: object) => ({ ...s1(1, 50_000), scenario, variant, ...extra })
  const records = [
    s1(1, 90_000),
    s7sent,
    ...[1, 2, 3, 4].flatMap((workers) => [
      run('S8', `S1, 4 partitions, ${workers} workers`, { workers }),
      run('S8', `S3, 4 partitions, ${workers} workers`, { workers, metric: 'deliveriesPerSec', deliveriesPerSec: 100_000 }),
    ]),
    ...['always', 'interval:100', 'never'].map((fsync) => run('S9', `S1, fsync ${fsync}`, { fsync })),
    { micro: 'fsync', bytes: 140_000, count: 10, mean: 3, p50: 2, p90: 4, p99: 9, max: 10, s1CeilingMsgsPerSec: 333_333 },
  ]
  const written = writeResults(records, { mode: 'full', commit: 'abc', command: 'c', dir })
  const names = written.map((f: string) => path.basename(f)).sort()
  t.same(names, ['RESULTS.md', 'fsync.svg', 'latency.svg', 'pool-scaling.svg', 'throughput.svg'])
  for (const f of written) t.ok(fs.statSync(path.resolve(f)).size > 0, f)
  const md = fs.readFileSync(path.join(dir, 'RESULTS.md'), 'utf8')
  t.match(md, /## S7 where datagrams went/)
  t.match(md, /## S8 pool scaling/)
  t.match(md, /## S9 fsync policy/)
  t.match(md, /## Disk/)
  t.match(fs.readFileSync(path.join(dir, 'charts', 'pool-scaling.svg'), 'utf8'), /<polyline /)
})

t.test('RESULTS.md says how many runs started after a warm-up', async (t) => {
  const warm = { ...s1(1, 1), warmup: { topic: 'bench-warmup', messagesPerProcess: 50_000 } }
  const md = resultsMarkdown([warm, s1(2, 2)], { mode: 'full', commit: 'x', command: 'c', machine })
  t.match(md, /1 of 2 runs started after a warm-up phase/)
  t.match(resultsMarkdown([s1(1, 1)], { mode: 'full', commit: 'x', command: 'c', machine }), /No run had a warm-up phase/)
})

/** An embedded run (bench/embedded/): `broker` is the broker's name, its server's figures under `server`. */
const embedded = (broker: string, extra: object = {}) => ({
  ...s1(1, 100_000),
  mode: 'quick',
  variant: '50,000 x 128 B',
  topology: 'embedded',
  broker,
  durability: broker === 'skiffmq' ? 'fsync before confirm' : 'confirm before fsync',
  command: 'node bench/run.mjs S1 --topology embedded --against nats,redis --record',
  commit: 'def456',
  recordedAt: '2026-02-03T04:05:06Z',
  server: { peakRssMiB: 140, cpuSeconds: 1 },
  ...extra,
})

t.test('the embedded section comes first and the multi-process part stays as it was recorded', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-results-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'RESULTS.md')
  writeResults([s1(1, 90_000)], { mode: 'full', commit: 'abc', command: 'node bench/run.mjs all --full --record', dir })
  const before = fs.readFileSync(file, 'utf8')
  const processesPart = before.slice(before.indexOf('Recorded '))

  const runs = [embedded('skiffmq', { msgsPerSec: 120_000 }), embedded('nats', { msgsPerSec: 80_000 }), embedded('redis', { msgsPerSec: 100_000 })]
  const written = writeResults(runs, { mode: 'quick', commit: 'def456', command: 'x', dir, topology: 'embedded' })
  t.same(written.map((f: string) => path.basename(f)), ['RESULTS.md', 'embedded-throughput.svg', 'embedded-latency.svg'], 'the page and the embedded charts; the multi-process charts untouched')
  const throughput = fs.readFileSync(path.join(dir, 'charts', 'embedded-throughput.svg'), 'utf8')
  for (const broker of ['skiffmq', 'nats', 'redis']) t.ok(throughput.includes(broker), `the throughput chart has a bar for ${broker}`)
  t.match(throughput, /120k|120,000|1\.2e5|120000/, "skiffmq's figure is on the chart")
  const page = fs.readFileSync(file, 'utf8')
  t.match(page, /!\[embedded throughput\]\(charts\/embedded-throughput\.svg\)/, 'the section shows its charts')
  t.ok(page.startsWith('# skiffmq bench results\n\n<!-- embedded topology: begin -->\n## Embedded topology'), 'first under the title')
  t.ok(page.endsWith(processesPart), 'the multi-process part is byte for byte what was recorded')
  t.match(page, /Recorded 2026-02-03 04:05 UTC by `node bench\/run.mjs S1 --topology embedded --against nats,redis --record` \(quick mode, cold\), commit def456/)
  t.match(page, /\| S1 durable-ack \| 50,000 x 128 B \| skiffmq \| fsync before confirm \| 120,000 msgs\/s \| x1\.20 vs redis \|/)
  t.match(page, /\| S1 durable-ack \| 50,000 x 128 B \| nats \| confirm before fsync \| 80,000 msgs\/s \|  \|/, "no ratio on another broker's row")

  writeResults([embedded('skiffmq', { msgsPerSec: 1_000 })], { mode: 'quick', commit: 'x', command: 'x', dir, topology: 'embedded' })
  const again = fs.readFileSync(file, 'utf8')
  t.equal(again.split('<!-- embedded topology: begin -->').length, 2, 'recording again replaces the section')
  t.match(again, /1,000 msgs\/s/)
  t.notMatch(again, /120,000 msgs\/s/)
  t.ok(again.endsWith(processesPart))

  const section = again.slice(again.indexOf('<!-- embedded'), again.indexOf('embedded topology: end -->'))
  writeResults([s1(1, 70_000)], { mode: 'full', commit: 'ghi', command: 'node bench/run.mjs all --full --record', dir })
  const after = fs.readFileSync(file, 'utf8')
  t.ok(after.includes(section), 'a multi-process recording keeps the embedded section as it was')
  t.match(after, /70,000 msgs\/s/)
  t.notMatch(after, /90,000 msgs\/s/)
})

t.test('for a latency scenario the ratio is of p99, lower being better; the multi-process tables leave embedded runs out', async (t) => {
  const s5 = (broker: string, p99: number) => embedded(broker, { scenario: 'S5', name: 'fixed-rate-latency', metric: 'p99', target: { value: 2, text: 'p99 < 2 ms', below: true }, latency: { p50: 1, p90: 2, p99, p999: p99, max: p99, mean: 1 } })
  const md = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bench-results-'))
  t.teardown(() => fs.rmSync(md, { recursive: true, force: true }))
  writeResults([s5('skiffmq', 4), s5('nats', 2), s5('rabbitmq', 8)], { mode: 'quick', commit: 'x', command: 'x', dir: md, topology: 'embedded' })
  t.match(fs.readFileSync(path.join(md, 'RESULTS.md'), 'utf8'), /\| skiffmq \| fsync before confirm \| p99 4\.00 ms \| x2\.00 vs nats \(p99: lower is better\) \|/)
  const processes = resultsMarkdown([s1(1, 90_000), embedded('skiffmq', { msgsPerSec: 5 })], { mode: 'full', commit: 'x', command: 'c', machine })
  t.notMatch(processes, /\| 5 msgs\/s/)
  t.notMatch(processes, /Embedded topology/)
})
