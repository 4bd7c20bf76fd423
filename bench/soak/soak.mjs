#!/usr/bin/env node
/**
 * Soak: the broker under steady load for a given time while faults are
 * injected, then an audit. Runs the built code in dist/ (`npm run build`).
 *
 *   node bench/soak/soak.mjs [--duration 10m] [--rate 2000] [--fault-every 20]
 *                            [--seed N] [--workers 2] [--partitions 3] [--json FILE]
 *
 * Load: one producer publishing unique ids with confirm at --rate per second
 * (a reconnecting client: unconfirmed batches are re-sent idempotently after
 * every loss), and a consumer group of 3 members (each its own reconnecting
 * client) acking everything.
 *
 * Faults, one every --fault-every seconds (±50%, seeded): SIGKILL of the broker
 * (40%), SIGTERM and restart (15%), the producer's connection cut (15%), a
 * group member leaving and a new one joining (15%), a member's connection cut
 * (15%). A stopped broker is started again at once.
 *
 * Then: no more faults, the producer finishes, the group drains, and a fresh
 * group reads the whole topic. The summary: published, confirmed, lost
 * (confirmed but missing from the log or from another offset, or never
 * delivered to the group), duplicated (stored twice; delivered more than
 * once), confirm and end-to-end latency percentiles, restart and reconnect
 * times, and the broker's RSS over time. Exit code 1 when anything confirmed
 * was lost or an offset held two ids.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { CLIENT_MODULE, requireBuild } from '../lib/paths.mjs'
import { latencySummary } from '../lib/histogram.mjs'
import { BrokerRunner, freePort, rssBytes } from './broker-runner.mjs'
import { SoakGroup, SoakProducer, auditTopic } from './ledger.mjs'

const TOPIC = 'soak'
const GROUP = 'soak'
const USAGE = `usage: node bench/soak/soak.mjs [--duration 10m] [--rate 2000] [--fault-every 20]
                              [--seed N] [--workers 2] [--partitions 3] [--json FILE]
(see the comment at the top of bench/soak/soak.mjs)
`

function parseDuration(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(s).trim())
  if (!m) throw new Error(`--duration: expected e.g. 90s, 10m, 1h; got ${JSON.stringify(s)}`)
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']
}

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10m' },
      rate: { type: 'string', default: '2000' },
      'fault-every': { type: 'string', default: '20' },
      seed: { type: 'string' },
      workers: { type: 'string', default: '2' },
      partitions: { type: 'string', default: '3' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  return {
    durationMs: parseDuration(values.duration),
    rate: Number(values.rate),
    faultEveryMs: Number(values['fault-every']) * 1000,
    seed: values.seed === undefined ? Date.now() % 1_000_000_007 : Number(values.seed),
    workers: Number(values.workers),
    partitions: Number(values.partitions),
    json: values.json,
  }
}

function seededRandom(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (s) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`)
const fmt = (n) => n.toLocaleString('en-US')
const ms = (x) => (x === undefined ? 'n/a' : x < 10 ? x.toFixed(2) : x.toFixed(0))

async function main() {
  const o = options()
  requireBuild()
  const random = seededRandom(o.seed)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-soak-'))
  process.once('exit', () => fs.rmSync(dataDir, { recursive: true, force: true }))
  const broker = new BrokerRunner({ port: await freePort(), dataDir, args: ['--workers', String(o.workers), '--group-commit-ms', '100'] })
  process.once('exit', () => broker.child?.kill('SIGKILL'))
  await broker.start()
  // Room in the books for the offered load plus the re-sends of one fault too many.
  const capacity = Math.ceil((o.rate * o.durationMs) / 1000) + 10_000

  const { connect } = await import(CLIENT_MODULE)
  const admin = await connect(broker.url, { reconnect: false })
  await admin.admin.createTopic(TOPIC, { partitions: o.partitions })
  await admin.close()
  const group = new SoakGroup(broker.url, TOPIC, GROUP, { members: 3, partitions: o.partitions, capacity })
  await group.start()
  const producer = new SoakProducer(broker.url, TOPIC, { rate: o.rate, capacity })
  await producer.start()
  log(`soak for ${o.durationMs / 1000} s at ${o.rate}/s, a fault every ~${o.faultEveryMs / 1000} s, seed ${o.seed}, broker on ${broker.url}`)

  const began = Date.now()
  const rss = []
  const sampler = setInterval(() => {
    const v = broker.up ? rssBytes(broker.pid) : null
    if (v !== null) rss.push({ s: Math.round((Date.now() - began) / 1000), mib: v / 1048576 })
  }, 5000)
  const faults = { kill: 0, term: 0, 'producer-cut': 0, 'member-swap': 0, 'member-cut': 0 }
  const outages = []
  const end = began + o.durationMs
  while (Date.now() < end) {
    await sleep(Math.min(end - Date.now(), o.faultEveryMs * (0.5 + random())))
    if (Date.now() >= end) break
    const r = random()
    if (r < 0.55) {
      const kind = r < 0.4 ? 'kill' : 'term'
      const down = performance.now()
      if (kind === 'kill') await broker.kill()
      else await broker.stop()
      await broker.start()
      outages.push(performance.now() - down)
      faults[kind]++
    } else if (r < 0.7) {
      producer.cut()
      faults['producer-cut']++
    } else if (r < 0.85) {
      await group.replaceOne(random)
      faults['member-swap']++
    } else {
      group.cutOne(random)
      faults['member-cut']++
    }
    log(`${Object.entries(faults).map(([k, v]) => `${k} ${v}`).join(', ')}; confirmed ${fmt(producer.confirmed)}, delivered ${fmt(group.total)}`)
  }

  log('load ends: the producer finishes, the group drains')
  await producer.finish(180_000)
  const published = producer.next
  const confirmedIds = []
  for (let id = 0; id < published; id++) if (producer.confirmedAt[id] >= 0) confirmedIds.push(id)
  const drainDeadline = Date.now() + 180_000
  while (Date.now() < drainDeadline && confirmedIds.some((id) => group.deliveries[id] === 0)) await sleep(200)
  await group.close()
  clearInterval(sampler)
  log('auditing the log')
  const audit = await auditTopic(broker.url, TOPIC, { partitions: o.partitions, capacity }, 300_000)
  const stopCode = await broker.stop()

  let missingFromLog = 0
  let misplaced = 0
  let neverDelivered = 0
  let storedTwice = 0
  let deliveredAgain = 0
  let strangers = 0
  for (const id of confirmedIds) {
    if (audit.stored[id] === 0) missingFromLog++
    if (audit.log.get(producer.confirmedAt[id], producer.offsetOf[id]) !== id) misplaced++
    if (group.deliveries[id] === 0) neverDelivered++
  }
  for (let id = 0; id < capacity; id++) {
    if (audit.stored[id] > 1) storedTwice += audit.stored[id] - 1
    if (group.deliveries[id] > 1) deliveredAgain += group.deliveries[id] - 1
    if (id >= published && (audit.stored[id] > 0 || group.deliveries[id] > 0)) strangers++
  }
  const failed = [...producer.failures.values()].reduce((a, b) => a + b, 0)
  const summary = {
    durationS: o.durationMs / 1000,
    rate: o.rate,
    seed: o.seed,
    workers: o.workers,
    partitions: o.partitions,
    faults,
    published,
    confirmed: confirmedIds.length,
    failed: Object.fromEntries(producer.failures),
    throttled: producer.throttled,
    lost: { missingFromLog, misplaced, neverDelivered },
    offsetConflicts: group.conflicts,
    strangers,
    duplicated: { storedTwice, deliveredAgain, deliveries: group.total },
    auditRecords: audit.records,
    confirmLatencyMs: latencySummary(producer.latency),
    endToEndLatencyMs: latencySummary(group.latency),
    brokerStartsMs: broker.startTimes.map((x) => Math.round(x)),
    brokerOutagesMs: outages.map((x) => Math.round(x)),
    brokerLog: Object.fromEntries(broker.notable),
    brokerExitCode: stopCode,
    rssMiB: rss,
    node: process.version,
    cpus: os.cpus().length,
  }
  print(summary, failed)
  if (o.json) fs.writeFileSync(o.json, JSON.stringify(summary, null, 2) + '\n')
  const bad = missingFromLog + misplaced + neverDelivered + group.conflicts + strangers
  process.exit(bad > 0 ? 1 : 0)
}

function print(s, failed) {
  const lat = (l) => (l ? `p50 ${ms(l.p50)}  p99 ${ms(l.p99)}  p99.9 ${ms(l.p999)}  max ${ms(l.max)} ms (${fmt(l.count)})` : 'n/a')
  const rssValues = s.rssMiB.map((r) => r.mib)
  const every = Math.max(1, Math.ceil(s.rssMiB.length / 24))
  const starts = s.brokerStartsMs
  const down = [...s.brokerOutagesMs].sort((a, b) => a - b)
  const lines = [
    `soak ${s.durationS} s at ${fmt(s.rate)}/s, seed ${s.seed}, ${s.workers} workers, ${s.partitions} partitions, Node ${s.node}, ${s.cpus} CPUs`,
    `faults       ${Object.entries(s.faults).map(([k, v]) => `${v} ${k}`).join(', ')}`,
    `published    ${fmt(s.published)}   confirmed ${fmt(s.confirmed)}   failed ${fmt(failed)} ${failed ? JSON.stringify(s.failed) : ''}   held back ${fmt(s.throttled)} (offered while ${fmt(4000)} were unconfirmed)`,
    `lost         ${s.lost.missingFromLog} missing from the log, ${s.lost.misplaced} not at their confirmed offset, ${s.lost.neverDelivered} never delivered to the group`,
    `integrity    ${s.offsetConflicts} offsets seen holding two ids, ${s.strangers} ids never published`,
    `duplicated   ${fmt(s.duplicated.storedTwice)} stored twice; ${fmt(s.duplicated.deliveredAgain)} delivered again (${fmt(s.duplicated.deliveries)} deliveries)`,
    `confirm      ${lat(s.confirmLatencyMs)}`,
    `end to end   ${lat(s.endToEndLatencyMs)}`,
    `restarts     ${down.length} (signal to listening again: ${down.length ? `median ${down[Math.floor(down.length / 2)]} ms, max ${down.at(-1)} ms` : 'n/a'}); each start to listening: ${starts.join(', ')} ms`,
    `broker log   ${Object.entries(s.brokerLog).map(([k, v]) => `${v}× "${k}"`).join(', ') || 'nothing notable'}; exit code ${s.brokerExitCode}`,
    `RSS MiB      ${rssValues.length ? `min ${Math.min(...rssValues).toFixed(0)}, max ${Math.max(...rssValues).toFixed(0)}` : 'n/a'}; over time (s:MiB) ${s.rssMiB.filter((_, i) => i % every === 0).map((r) => `${r.s}:${r.mib.toFixed(0)}`).join(' ')}`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

main().catch((err) => {
  process.stderr.write(`soak failed: ${err.stack ?? err}\n`)
  process.exit(2)
})
