/**
 * Broker start-up time with many topics: from spawning `skiff broker` to its
 * `listening` line, on a data dir of N one-partition topics, each with a few
 * records and one consumer group that acked half of them (so every partition
 * has a log to recover and a group to load).
 *
 *   node bench/micro/startup.mjs [--topics 1000] [--records 20] [--workers 2] [--runs 3] [--data-dir DIR]
 *
 * Runs the built code (dist/): `npm run build` first. With --data-dir the
 * prepared dir is kept (and reused when it already holds the topics).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { connect } from '../../dist/clients/index.js'

const { values } = parseArgs({
  options: {
    topics: { type: 'string', default: '1000' },
    records: { type: 'string', default: '20' },
    workers: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    'data-dir': { type: 'string' },
  },
})
const TOPICS = Number(values.topics)
const RECORDS = Number(values.records)
const RUNS = Number(values.runs)
const cli = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url))
const dataDir = values['data-dir'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-startup-'))

/** Start a broker on `dataDir`; resolves with the child, its port and ms to `listening`. */
function start() {
  const began = performance.now()
  const child = spawn(process.execPath, [cli, 'broker', '--data-dir', dataDir, '--port', '0', '--http-port', '0', '--no-udp', '--workers', values.workers], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no "listening" within 120 s')), 120_000)
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)))
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      let obj
      try {
        obj = JSON.parse(line)
      } catch {
        return
      }
      if (obj.msg === 'listening') {
        clearTimeout(timer)
        resolve({ child, port: obj.port, ms: performance.now() - began })
      }
    })
  })
}

function stop(child) {
  return new Promise((resolve) => {
    child.removeAllListeners('exit')
    child.once('exit', resolve)
    child.kill('SIGTERM')
  })
}

async function prepare() {
  const marker = path.join(dataDir, 'startup-bench.json')
  if (fs.existsSync(marker)) return
  const { child, port } = await start()
  const client = await connect(`skiff://127.0.0.1:${port}`)
  const producer = client.producer({ maxInFlight: 5000 })
  const names = Array.from({ length: TOPICS }, (_, i) => `t${String(i).padStart(5, '0')}`)
  for (let i = 0; i < names.length; i += 100) {
    const slice = names.slice(i, i + 100)
    await Promise.all(slice.flatMap((topic) => Array.from({ length: RECORDS }, (_, r) => producer.publish(topic, `r${r}`))))
    await Promise.all(
      slice.map(async (topic) => {
        const consumer = await client.subscribe(topic, { group: 'g', from: 'earliest', maxInFlight: RECORDS })
        let n = 0
        for await (const m of consumer) {
          if (n++ < RECORDS / 2) m.ack()
          if (n === RECORDS) break
        }
        await consumer.close()
      }),
    )
  }
  await client.close()
  await stop(child)
  fs.writeFileSync(marker, JSON.stringify({ topics: TOPICS, records: RECORDS }))
}

await prepare()
const times = []
for (let r = 0; r < RUNS; r++) {
  const { child, ms } = await start()
  times.push(ms)
  await stop(child)
}
times.sort((a, b) => a - b)
console.log(`start-up to "listening", ${TOPICS} topics x ${RECORDS} records + 1 group, ${values.workers} workers: median ${times[Math.floor(times.length / 2)].toFixed(0)} ms (${times.map((x) => x.toFixed(0)).join(', ')})`)
if (!values['data-dir']) fs.rmSync(dataDir, { recursive: true, force: true })
