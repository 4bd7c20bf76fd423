#!/usr/bin/env node
/**
 * The well-behaved client of the hostile soak, in a process of its own so an
 * attack's work in the bench process never delays it. For `seconds` it keeps:
 *   confirm   a publish with confirm every 5 ms (victim.orders)
 *   deliver   a consumer group acking each of those; publish-to-delivery time
 *   ping      a PING round trip every 10 ms on a raw logged-in socket
 *   request   a request/reply round trip every 50 ms (victim.rpc, served by
 *             a second connection of its own)
 *   login     every 500 ms a fresh connection of the next tokenHash user
 *             (each user's first login pays scrypt): connect to WELCOME,
 *             which is what a login storm attacks
 * and prints one JSON line: the latency summary of each (ms) and its failures.
 *
 *   node bench/hostile/victim.mjs '{"port":7600,"seconds":10,"victim":{...},"hashed":[{user,token},...]}'
 */
import net from 'node:net'
import { CLIENT_MODULE, PROTOCOL_MODULE } from '../lib/paths.mjs'
import { createHistogram, recordMs, latencySummary } from '../lib/histogram.mjs'

const { connect } = await import(CLIENT_MODULE)
const { FrameDecoder, Op, SUPPORTED_VERSIONS, encodeHello, encodePing } = await import(PROTOCOL_MODULE)

const cfg = JSON.parse(process.argv[2] ?? '{}')
const url = `skiff://127.0.0.1:${cfg.port}`
const endAt = Date.now() + cfg.seconds * 1000
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const running = () => Date.now() < endAt

function series() {
  return { h: createHistogram(), failed: 0, errors: [] }
}
function fail(s, err) {
  s.failed++
  if (s.errors.length < 3) s.errors.push(String(err?.code ?? '') + ' ' + (err?.message ?? String(err)))
}
const stats = { confirm: series(), deliver: series(), ping: series(), request: series(), login: series() }

let client
let server
let consuming = Promise.resolve()
const sentAt = new Map()
try {
  client = await connect(url, { name: 'victim', ...cfg.victim })
  server = await connect(url, { name: 'victim-server', ...cfg.victim })
  await server.serve('victim.rpc', (req) => req.payload)
  const consumer = await client.subscribe('victim.orders', { group: 'victim', from: 'latest', maxInFlight: 200 })
  consuming = (async () => {
    for await (const msg of consumer) {
      const at = sentAt.get(msg.payload.toString())
      if (at !== undefined) {
        recordMs(stats.deliver.h, performance.now() - at)
        sentAt.delete(msg.payload.toString())
      }
      msg.ack()
    }
  })().catch((err) => fail(stats.deliver, err))
} catch (err) {
  // The broker could not even set the victim up (a subscribe that timed out, say): that is the result.
  process.stdout.write(JSON.stringify({ setupFailed: `${err.code ?? ''} ${err.message}` }) + '\n')
  process.exit(0)
}

async function publishing() {
  const producer = client.producer({ maxInFlight: 100 })
  for (let seq = 0; running(); seq++) {
    const id = String(seq)
    const started = performance.now()
    sentAt.set(id, started)
    try {
      await producer.publish('victim.orders', id)
      recordMs(stats.confirm.h, performance.now() - started)
    } catch (err) {
      sentAt.delete(id)
      fail(stats.confirm, err)
    }
    await sleep(5)
  }
}

async function requesting() {
  while (running()) {
    const started = performance.now()
    try {
      await client.request('victim.rpc', 'ping', { timeoutMs: 5000 })
      recordMs(stats.request.h, performance.now() - started)
    } catch (err) {
      fail(stats.request, err)
    }
    await sleep(50)
  }
}

async function loggingIn() {
  const users = cfg.hashed ?? []
  for (let i = 0; running() && users.length > 0; i++) {
    const started = performance.now()
    try {
      const c = await connect(url, { name: 'victim-login', ...users[i % users.length], reconnect: false })
      recordMs(stats.login.h, performance.now() - started)
      await c.close()
    } catch (err) {
      fail(stats.login, err)
    }
    await sleep(500)
  }
}

/** PING round trips on a raw socket: the gateway's own answer, no worker involved. */
async function pinging() {
  const socket = net.connect(cfg.port, '127.0.0.1')
  const decoder = new FrameDecoder(1024 * 1024)
  let wake
  let welcomed = false
  let pongs = 0
  socket.on('data', (chunk) => {
    decoder.push(chunk)
    for (let f = decoder.next(); f; f = decoder.next()) {
      if (f.opcode === Op.WELCOME) welcomed = true
      if (f.opcode === Op.PONG) pongs++
    }
    wake?.()
  })
  socket.on('error', () => {})
  const waitFor = (cond, ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(cond()), ms)
      const check = () => {
        if (!cond()) return
        clearTimeout(timer)
        resolve(true)
      }
      wake = check
      check()
    })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'victim-ping', ...cfg.victim }))
  if (!(await waitFor(() => welcomed, 10_000))) return fail(stats.ping, new Error('no WELCOME'))
  while (running()) {
    const want = pongs + 1
    const started = performance.now()
    socket.write(encodePing())
    if (await waitFor(() => pongs >= want, 10_000)) recordMs(stats.ping.h, performance.now() - started)
    else fail(stats.ping, new Error('no PONG within 10 s'))
    await sleep(10)
  }
  socket.destroy()
}

await Promise.all([publishing(), requesting(), loggingIn(), pinging()])
for (let i = 0; i < 100 && sentAt.size > 0; i++) await sleep(20)
const undelivered = sentAt.size
await Promise.all([client.close(), server.close()]).catch(() => {})
await consuming
const out = { undelivered }
for (const [k, s] of Object.entries(stats)) out[k] = { ...(latencySummary(s.h) ?? { count: 0 }), failed: s.failed, errors: s.errors }
process.stdout.write(JSON.stringify(out) + '\n')
process.exit(0)
