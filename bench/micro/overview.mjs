#!/usr/bin/env node
/**
 * What one GET /api/overview costs a broker holding many topics: the broker's
 * CPU seconds (all threads, and the gateway thread alone, from /proc) and the
 * wall time of each request, for the default page and for the largest page.
 *
 *   node bench/micro/overview.mjs [--topics 3000] [--groups 500] [--rounds 3] [--json]
 *
 * The broker is the built `skiff broker` in its own process (no auth file,
 * fsync never to make the setup quick; the overview reads no log data), with
 * --topics topics of one message each, and a consumer group subscribed (and
 * still connected) on each of the first --groups topics. Requests are 1.5 s apart so the
 * overview cache (at most 1 s old) never answers them: each is a full build.
 * CPU is read in clock ticks (10 ms), so figures below ~0.02 s are coarse.
 */
import { parseArgs } from 'node:util'
import { startBrokerProcess } from '../lib/broker-process.mjs'
import { CLIENT_MODULE, requireBuild } from '../lib/paths.mjs'
import { textTable } from '../lib/format.mjs'

const { values } = parseArgs({
  options: { topics: { type: 'string', default: '3000' }, groups: { type: 'string', default: '500' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } },
})
const TOPICS = Number(values.topics)
const GROUPS = Math.min(TOPICS, Number(values.groups))
const ROUNDS = Math.min(10, Number(values.rounds))
requireBuild()
const { connect } = await import(CLIENT_MODULE)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const broker = await startBrokerProcess({ workers: 1, fsync: 'never', extraArgs: ['--max-topics', String(TOPICS + 100), '--max-subscriptions-per-connection', String(GROUPS + 10)] })
try {
  const client = await connect(broker.url, { name: 'bench-overview' })
  const producer = client.producer({ maxInFlight: 1000 })
  for (let i = 0; i < TOPICS; i += 200) {
    const batch = []
    for (let j = i; j < Math.min(TOPICS, i + 200); j++) batch.push(producer.publish(`bench.topic-${String(j).padStart(5, '0')}`, 'x'))
    await Promise.all(batch)
  }
  await client.close()
  // Subscribed and left connected: the groups have members and one message in flight each.
  const consumerClient = await connect(broker.url, { name: 'bench-overview-groups' })
  for (let i = 0; i < GROUPS; i += 100) {
    const batch = []
    for (let j = i; j < Math.min(GROUPS, i + 100); j++) batch.push(consumerClient.subscribe(`bench.topic-${String(j).padStart(5, '0')}`, { group: 'g', from: 'earliest', maxInFlight: 10 }))
    await Promise.all(batch)
  }
  await sleep(1500)

  const rows = []
  for (const query of ['', '?limit=500']) {
    for (let round = 1; round <= ROUNDS; round++) {
      const before = broker.sample()
      const started = performance.now()
      const res = await fetch(`http://127.0.0.1:${broker.httpPort}/api/overview${query}`)
      const body = await res.text()
      const wallMs = performance.now() - started
      await sleep(100) // let the workers' share of the request settle into /proc
      const after = broker.sample()
      const o = res.ok ? JSON.parse(body) : {}
      rows.push({
        query: query || '(default)',
        round,
        status: res.status,
        topicsInAnswer: o.topics?.length ?? 0,
        totalTopics: o.totalTopics ?? o.topics?.length ?? 0,
        answerKiB: Math.round(body.length / 1024),
        wallMs: Math.round(wallMs),
        cpuSeconds: +(after.cpuSeconds - before.cpuSeconds).toFixed(2),
        gatewayCpuSeconds: +(after.mainThreadCpuSeconds - before.mainThreadCpuSeconds).toFixed(2),
      })
      await sleep(1500)
    }
  }
  await consumerClient.close()
  if (values.json) console.log(JSON.stringify({ topics: TOPICS, groups: GROUPS, node: process.version, rows }))
  else {
    console.log(`GET /api/overview with ${TOPICS} topics, ${GROUPS} of them with a group (Node ${process.version}, broker with 1 worker)`)
    console.log(textTable(Object.keys(rows[0]), rows.map((r) => Object.values(r).map(String))))
  }
} finally {
  await broker.stop()
}
