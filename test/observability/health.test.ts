/**
 * /healthz and /readyz. Readiness is 503 while the broker starts (the HTTP
 * port is the first thing to listen, before the workers are loaded and the
 * TCP port listens), 200 once it serves, and 503 again once close() begins.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startBroker } from '../../broker/index.js'
import { Observability } from '../../broker/observability/index.js'
import { resolveConfig } from '../../broker/config.js'
import { createLogger } from '../../broker/logger.js'
import { freePort } from '../../bench/lib/free-port.mjs'

async function status(port: number, p: string, method = 'GET'): Promise<number | string> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${p}`, { method })).status
  } catch (err) {
    return String((err as { cause?: { code?: string } }).cause?.code ?? err)
  }
}

t.test('/readyz is 503 while the broker starts, then 200; /healthz is 200 throughout', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-obs-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const httpPort = await freePort()
  // Three workers to load: the broker is not ready for a good while after HTTP listens.
  const starting = startBroker({ port: 0, httpPort, dataDir, workers: 3, logLevel: 'silent' })
  let started = false
  void starting.then(() => (started = true), () => (started = true))
  const seen: (number | string)[] = []
  const deadline = Date.now() + 20_000
  while (!started && Date.now() < deadline) {
    seen.push(await status(httpPort, '/readyz'))
    await new Promise((r) => setTimeout(r, 2))
  }
  const broker = await starting
  t.teardown(() => broker.close())
  const answers = seen.filter((s) => typeof s === 'number')
  t.ok(answers.length > 0, `HTTP answered while starting (${seen.length} tries)`)
  t.equal(answers[0], 503, 'not ready while starting')
  t.equal(await status(httpPort, '/readyz'), 200, 'ready once started')
  t.equal(await status(httpPort, '/healthz'), 200)
  t.equal(broker.httpPort, httpPort)
  t.equal(await status(httpPort, '/nope'), 404)
  t.equal(await status(httpPort, '/metrics', 'POST'), 405)
  t.equal(await status(httpPort, '/readyz', 'HEAD'), 200)

  const closing = broker.close()
  const during = await status(httpPort, '/readyz')
  t.not(during, 200, `never ready once close() began (${during})`)
  await closing
  t.type(await status(httpPort, '/healthz'), 'string', 'the HTTP port is closed with the broker')
})

t.test('drain() turns readiness off at once; health stays on until close()', async (t) => {
  const config = resolveConfig({ port: 0, httpPort: 0, logLevel: 'silent' })
  const obs = await Observability.start(config, createLogger('silent'))
  t.teardown(() => obs.close())
  t.equal(await status(obs.httpPort, '/readyz'), 503, 'not ready before attach')
  obs.health.ready = true
  t.equal(await status(obs.httpPort, '/readyz'), 200)
  const draining = obs.drain()
  t.equal(await status(obs.httpPort, '/readyz'), 503, 'draining')
  t.equal(await status(obs.httpPort, '/healthz'), 200, 'alive while draining')
  await draining
  await obs.close()
  t.type(await status(obs.httpPort, '/healthz'), 'string', 'closed')
})

t.test('ports: ephemeral TCP means ephemeral HTTP unless one is chosen; UDP can be off', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-obs-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const a = await startBroker({ port: 0, dataDir: path.join(dataDir, 'a'), workers: 1, logLevel: 'silent', udp: false })
  t.teardown(() => a.close())
  t.not(a.httpPort, 9600, 'port 0 and the default httpPort: any free HTTP port')
  t.equal(a.udpPort, undefined, 'no UDP')
  const udpPort = await freePort()
  const b = await startBroker({ port: 0, dataDir: path.join(dataDir, 'b'), workers: 1, logLevel: 'silent', udpPort })
  t.teardown(() => b.close())
  t.equal(b.udpPort, udpPort, 'an explicit UDP port')
  t.not(b.httpPort, a.httpPort, 'two brokers, two HTTP ports')
})
