/**
 * The gateway's worker threads run the worker module from the tree the
 * gateway itself runs from: this file runs from TypeScript source, so an
 * in-process broker started from source must run broker/worker/main.ts, not a
 * possibly stale build; the built broker runs the built worker beside it.
 * `workerFile` is what the worker threads report as their own module URL.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startBroker as startSourceBroker } from '../../broker/index.js'
import { connect } from '../../clients/index.js'
import { Reader } from '../e2e/helpers.js'

interface Teardown {
  teardown(fn: () => unknown): void
  equal(found: unknown, wanted: unknown): void
}

async function roundTrip(t: Teardown, startBroker: typeof startSourceBroker): Promise<string> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-worker-module-'))
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const broker = await startBroker({ port: 0, host: '127.0.0.1', httpPort: 0, udp: false, workers: 2, logLevel: 'silent', dataDir })
  t.teardown(() => broker.close())
  // The workers are live, not just loaded: a message goes through one and back.
  const client = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'worker-module' })
  t.teardown(() => client.close())
  await client.producer().publish('wm', 'hello')
  const [msg] = await new Reader(await client.subscribe('wm', { group: 'g', from: 'earliest' })).take(1)
  t.equal(msg!.decode(), 'hello')
  return broker.workerFile
}

t.test('a broker run from source runs the worker from source', async (t) => {
  t.ok(import.meta.url.endsWith('.ts'), 'this test runs from source')
  const workerFile = await roundTrip(t, startSourceBroker)
  t.equal(workerFile, fileURLToPath(new URL('../../broker/worker/main.ts', import.meta.url)))
})

t.test('the built broker runs the built worker beside it', async (t) => {
  const built = new URL('../../dist/broker/index.js', import.meta.url)
  if (!fs.existsSync(built)) return t.skip('no build: run `npm run build`')
  const { startBroker } = (await import(built.href)) as { startBroker: typeof startSourceBroker }
  const workerFile = await roundTrip(t, startBroker)
  t.equal(workerFile, fileURLToPath(new URL('../../dist/broker/worker/main.js', import.meta.url)))
})
