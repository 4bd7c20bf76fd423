/**
 * The gateway's worker threads never run a worker older than the gateway's
 * own code (broker/gateway/worker-module.ts): the built broker runs the built
 * worker beside it; a broker run from source runs the built worker only while
 * no source file changed after the build, else the source one, and says so.
 * `workerFile` is what the worker threads report as their own module URL.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chooseFromSource, type SourceChoice } from '../../broker/gateway/worker-module.js'
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

t.test('a broker run from source runs the source worker when asked to (SKIFF_WORKER_SOURCE=1)', async (t) => {
  t.ok(import.meta.url.endsWith('.ts'), 'this test runs from source')
  process.env.SKIFF_WORKER_SOURCE = '1'
  t.teardown(() => delete process.env.SKIFF_WORKER_SOURCE)
  const workerFile = await roundTrip(t, startSourceBroker)
  t.equal(workerFile, fileURLToPath(new URL('../../broker/worker/main.ts', import.meta.url)))
})

t.test('from source: the built worker only while no source changed after the build', async (t) => {
  const dir = t.testdir({ broker: { 'a.ts': '', worker: { 'main.ts': '' } }, dist: { 'main.js': '' } })
  const source = pathToFileURL(path.join(dir, 'broker/worker/main.ts'))
  const built = pathToFileURL(path.join(dir, 'dist/main.js'))
  const at = (file: string, s: number) => fs.utimesSync(path.join(dir, file), s, s)
  const choice = (over: Partial<SourceChoice> = {}) => chooseFromSource({ source, built, roots: [path.join(dir, 'broker')], loader: true, forceSource: false, ...over })
  at('broker/a.ts', 1000)
  at('broker/worker/main.ts', 1000)
  at('dist/main.js', 2000)
  t.same(choice(), { url: built }, 'built after every source: the built worker, nothing to say')
  at('broker/a.ts', 3000)
  const stale = choice()
  t.equal(stale.url.href, source.href, 'a source changed after the build: the source worker')
  t.match(stale.warning, /a\.ts changed after the last build: running the worker from source/)
  const noLoader = choice({ loader: false })
  t.equal(noLoader.url.href, built.href, 'without a loader only the build can run')
  t.match(noLoader.warning, /no TypeScript loader/)
  t.equal(choice({ forceSource: true, roots: [] }).url.href, source.href, 'SKIFF_WORKER_SOURCE=1')
  fs.rmSync(path.join(dir, 'dist/main.js'))
  t.same(choice(), { url: source }, 'no build at all: the source worker')
})

t.test('the built broker runs the built worker beside it', async (t) => {
  const built = new URL('../../dist/broker/index.js', import.meta.url)
  if (!fs.existsSync(built)) return t.skip('no build: run `npm run build`')
  const { startBroker } = (await import(built.href)) as { startBroker: typeof startSourceBroker }
  const workerFile = await roundTrip(t, startBroker)
  t.equal(workerFile, fileURLToPath(new URL('../../dist/broker/worker/main.js', import.meta.url)))
})
