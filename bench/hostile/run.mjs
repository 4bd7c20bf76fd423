#!/usr/bin/env node
/**
 * Hostile soak: every attack of SECURITY.md's "What a client may cost" run
 * against a broker with an auth file while a well-behaved client works beside
 * them, first each attack alone, then all at once. For each phase it reports
 * the well-behaved client's p50/p99 (publish confirm, delivery, PING, request
 * round trip, a fresh tokenHash login), its failures, the broker's peak RSS
 * and CPU, and what the attack got. Runs the built code (`npm run build`).
 *
 *   node bench/hostile/run.mjs [--seconds 10] [--only login-storm,ack-amplification]
 *                              [--no-each] [--markdown FILE] [--json FILE]
 *
 * Every phase starts a fresh broker (its own data dir) so each peak RSS is
 * that phase's alone. Attackers connect from 127.0.0.2, the victim from
 * 127.0.0.1, so per-IP limits apply to the attackers only. Every loop is
 * bounded in count and time. The target (issue: all attacks at once) is a
 * victim p99 within 100 ms and the broker's RSS within the bound SECURITY.md
 * documents.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { ROOT_DIR, requireBuild } from '../lib/paths.mjs'
import { startBrokerProcess } from '../lib/broker-process.mjs'
import { Peer } from './peer.mjs'
import { loginStorm, requestHoarding, httpOpen } from './attacks/sessions.mjs'
import { msgpackBomb, byteAtATime } from './attacks/frames.mjs'
import { ackAmplification, unreadOutput } from './attacks/consumers.mjs'
import { dlqWildcard, limitRaces, smallOnes } from './attacks/limits.mjs'

requireBuild()
// An attack loop that fails before its stop() is awaited rejects unobserved;
// stop() reports it (see phase), so it must not end the process meanwhile.
process.on('unhandledRejection', () => {})
const { hashToken } = await import(path.join(ROOT_DIR, 'dist/broker/auth/token-hash.js'))
const { encodeTopicList, encodeTopicCreate, decodeOk } = await import(path.join(ROOT_DIR, 'dist/protocol/index.js'))

/** Attacks in issue order; `item` is the line of the issue each reproduces. */
const ATTACKS = [
  { name: 'login-storm', item: 1, start: loginStorm },
  { name: 'msgpack-bomb', item: 2, start: msgpackBomb },
  { name: 'ack-amplification', item: 3, start: ackAmplification },
  { name: 'unread-output', item: 4, start: unreadOutput },
  { name: 'dlq-wildcard', item: 5, start: dlqWildcard },
  { name: 'limit-races', item: 6, start: limitRaces },
  { name: 'request-hoarding', item: 7, start: requestHoarding },
  { name: 'http-open', item: 8, start: httpOpen },
  { name: 'byte-at-a-time', item: 9, start: byteAtATime },
  { name: 'small-ones', item: 10, start: smallOnes },
]

const MAX_TOPICS = 300
const HASHED_USERS = 20
/** scrypt cost of the soak's tokenHash users: 2^14, half the default, so setting up 20 takes ~1 s. */
const HASH_COST = { ln: 14, r: 8, p: 1 }

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    only: { type: 'string' },
    each: { type: 'boolean', default: true },
    'no-each': { type: 'boolean', default: false },
    markdown: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (opt.help) {
  process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] + '*/\n')
  process.exit(0)
}
const seconds = Number(opt.seconds)
if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds must be 1-600')
const chosen = opt.only ? opt.only.split(',').map((n) => ATTACKS.find((a) => a.name === n) ?? fail(`unknown attack ${n}; known: ${ATTACKS.map((a) => a.name).join(', ')}`)) : ATTACKS

function fail(msg) {
  throw new Error(msg)
}

const token = (name) => `${name}-${Math.random().toString(36).slice(2)}-0123456789abcdef`

/** The auth file of every phase: the victim, the attacker, 20 tokenHash users, an admin. */
async function users(dir) {
  const creds = { victim: { token: token('victim') }, mallory: { token: token('mallory') }, root: { token: token('root') } }
  const hashed = []
  const entries = [
    { name: 'victim', token: creds.victim.token, publish: ['victim.>'], subscribe: ['victim.>'] },
    { name: 'mallory', token: creds.mallory.token, publish: ['mallory.>'], subscribe: ['mallory.>', 'victim.orders.*'] },
    { name: 'root', token: creds.root.token, admin: true },
  ]
  for (let i = 0; i < HASHED_USERS; i++) {
    const t = token(`ops${i}`)
    hashed.push({ user: `ops${i}`, token: t })
    entries.push({ name: `ops${i}`, tokenHash: await hashToken(t, HASH_COST), subscribe: ['victim.>'] })
  }
  const file = path.join(dir, 'users.json')
  fs.writeFileSync(file, JSON.stringify({ users: entries }, null, 2))
  return { file, creds, hashed }
}

function runVictim(cfg) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'victim.mjs'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()))
      } catch {
        reject(new Error(`victim exited ${code} without a summary: ${out.slice(-500)}`))
      }
    })
  })
}

async function topicCount(port, creds) {
  const p = await Peer.login(port, creds, '127.0.0.1')
  let result
  p.socket.on('data', () => {})
  const decoderFrames = []
  p.onFrame = (f) => decoderFrames.push(f)
  p.write(encodeTopicList(1))
  await p.until(() => decoderFrames.length > 0, 5000)
  try {
    result = decodeOk(decoderFrames[0].body).result.length
  } catch {
    result = null
  }
  p.end()
  return result
}

async function createTopic(port, creds, topic) {
  const p = await Peer.login(port, creds, '127.0.0.1')
  p.write(encodeTopicCreate({ corr: 1, topic }))
  await p.until(() => p.frames > 1, 5000)
  p.end()
}

async function phase(name, attacks, auth) {
  const broker = await startBrokerProcess({
    workers: 1,
    extraArgs: ['--auth-file', auth.file, '--max-topics', String(MAX_TOPICS), '--max-subscriptions-per-connection', '100'],
  })
  try {
    const ctx = { port: broker.port, httpPort: broker.httpPort, udpPort: broker.udpPort ?? broker.port, creds: auth.creds, hashedUser: auth.hashed[0].user, maxTopics: MAX_TOPICS - 10 }
    // The victim's topic exists before any attack can fill the topic table.
    await createTopic(broker.port, auth.creds.root, 'victim.orders')
    const started = attacks.map((a) => ({ a, run: a.start(ctx) }))
    // Preparation (filling topics the attack reads) happens before anything is measured.
    // A broker already swamped by the other attacks may refuse it: that is reported, not fatal.
    const prepareFailed = {}
    for (const { a, run } of started) await run.prepare?.().catch((err) => (prepareFailed[a.name] = `${err.code ?? ''} ${err.message}`))
    const before = broker.sample()
    const victim = runVictim({ port: broker.port, seconds, victim: { user: 'victim', ...auth.creds.victim }, hashed: auth.hashed })
    const v = await victim
    const outcomes = {}
    for (const { a, run } of started) {
      // An attack whose own connections fail (a broker too busy to accept them) ends early: reported, not fatal.
      const got = await run.stop().catch((err) => ({ attackFailed: `${err.code ?? ''} ${err.message}` }))
      outcomes[a.name] = { ...got, ...(prepareFailed[a.name] ? { prepareFailed: prepareFailed[a.name] } : {}) }
    }
    const after = broker.sample()
    const topics = await topicCount(broker.port, auth.creds.root).catch(() => null)
    return { phase: name, victim: v, broker: { peakRssMiB: after.peakRssMiB, cpuSeconds: after.cpuSeconds !== null && before.cpuSeconds !== null ? after.cpuSeconds - before.cpuSeconds : null, topics }, outcomes }
  } finally {
    await broker.stop()
  }
}

const fmt = (x) => (x === undefined || x === null || !Number.isFinite(x) ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(0))

function row(r) {
  const v = r.victim
  if (v.setupFailed) return `| ${r.phase} | victim could not start: ${v.setupFailed} | | | | | | ${fmt(r.broker.peakRssMiB)} | ${fmt(r.broker.cpuSeconds)} | ${r.broker.topics ?? '—'} |`
  const failed = ['confirm', 'deliver', 'ping', 'request', 'login'].reduce((a, k) => a + (v[k]?.failed ?? 0), 0) + (v.undelivered ?? 0)
  return `| ${r.phase} | ${fmt(v.confirm.p50)} / ${fmt(v.confirm.p99)} | ${fmt(v.deliver.p99)} | ${fmt(v.ping.p99)} | ${fmt(v.request.p99)} | ${fmt(v.login.p99)} | ${failed} | ${fmt(r.broker.peakRssMiB)} | ${fmt(r.broker.cpuSeconds)} | ${r.broker.topics ?? '—'} |`
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-hostile-'))
try {
  const auth = await users(dir)
  const phases = [['baseline', []]]
  if (opt.each && !opt['no-each']) for (const a of chosen) phases.push([`${a.item}. ${a.name}`, [a]])
  if (chosen.length > 1 || !opt.each || opt['no-each']) phases.push(['all at once', chosen])
  const results = []
  for (const [name, attacks] of phases) {
    process.stderr.write(`${name} (${seconds} s)...\n`)
    results.push(await phase(name, attacks, auth))
    process.stderr.write(row(results[results.length - 1]) + '\n')
    if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(results, null, 2))
  }
  const lines = [
    `Hostile soak: ${seconds} s a phase, node ${process.version}, ${os.cpus().length} cores, ${new Date().toISOString()}`,
    '',
    '| phase | confirm p50 / p99 ms | deliver p99 | ping p99 | request p99 | login p99 | victim failures | broker peak RSS MiB | broker CPU s | topics |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(row),
    '',
    'What each attack got:',
    '',
    ...results.filter((r) => Object.keys(r.outcomes).length > 0 && r.phase !== 'all at once').map((r) => `- ${r.phase}: ${JSON.stringify(Object.values(r.outcomes)[0])}`),
  ]
  const text = lines.join('\n') + '\n'
  process.stdout.write(text)
  if (opt.markdown) fs.writeFileSync(opt.markdown, text)
  if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(results, null, 2))
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
