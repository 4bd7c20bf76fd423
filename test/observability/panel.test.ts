/**
 * The broker's web page in a real headless browser (Debian's chromium driven
 * by playwright-core): it loads, shows a topic after a publish, and the
 * group's lag falls to 0 after the messages are consumed and acked.
 * Skipped, with a message, where /usr/bin/chromium is absent.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startBroker } from '../../broker/index.js'
import { connect } from '../../clients/index.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

t.test('the overview JSON lists topics, groups with lag and in-flight, and connections', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-panel-'))
  const broker = await startBroker({ port: 0, httpPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', dataDir })
  const client = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'panel-json' })
  t.teardown(async () => {
    await client.close()
    await broker.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  await client.admin.createTopic('jobs', { partitions: 2 })
  const producer = client.producer()
  for (let i = 0; i < 6; i++) await producer.publish('jobs', `job ${i}`, { key: `k${i}` })
  const consumer = await client.subscribe('jobs', { group: 'workers', from: 'earliest', maxInFlight: 10 })
  // Taken, not acked: in flight. (Not a for-await loop: leaving it would close the consumer.)
  const messages = consumer[Symbol.asyncIterator]()
  for (let i = 0; i < 6; i++) await messages.next()
  const o = (await (await fetch(`http://127.0.0.1:${broker.httpPort}/api/overview`)).json()) as {
    topics: { topic: string; messages: number; partitions: unknown[] }[]
    groups: { topic: string; group: string; lag: number; inFlight: number; members: number; partitions: { lag: number }[] }[]
    connections: { name: string; subscriptions: number }[]
  }
  t.match(o.topics.find((x) => x.topic === 'jobs'), { messages: 6, partitions: [{}, {}] })
  t.match(o.groups.find((g) => g.group === 'workers'), { topic: 'jobs', lag: 6, inFlight: 6, members: 1 })
  t.equal(o.groups.find((g) => g.group === 'workers')!.partitions.length, 2, 'lag per partition')
  t.match(o.connections, [{ name: 'panel-json', subscriptions: 1 }])
  const page = await fetch(`http://127.0.0.1:${broker.httpPort}/`)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.match(await page.text(), /api\/overview/)
})

t.test('the panel in headless Chromium: a topic appears after a publish, lag falls to 0 after consuming', { skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium)` }, async (t) => {
  const { chromium } = await import('playwright-core')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-panel-'))
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-chromium-'))
  const broker = await startBroker({ port: 0, httpPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', dataDir })
  const client = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'panel-test' })
  // A persistent context is how playwright takes a (temporary) --user-data-dir.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  })
  t.teardown(async () => {
    await browser.close()
    await client.close()
    await broker.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
    fs.rmSync(profile, { recursive: true, force: true })
  })
  const page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${broker.httpPort}/`, { timeout: 15_000 })
  t.equal(await page.title(), 'skiffmq panel')
  await page.waitForSelector('#status:text("updated")', { timeout: 10_000 })
  await page.waitForSelector('#node dd[data-k="fsync"]', { timeout: 10_000 })
  t.equal(await page.isHidden('#cluster'), true, 'a single broker has no cluster section')

  const producer = client.producer()
  for (let i = 0; i < 5; i++) await producer.publish('panel-orders', { n: i })
  const consumer = await client.subscribe('panel-orders', { group: 'billing', from: 'earliest', maxInFlight: 10 })
  await page.waitForSelector('#topics tr[data-topic="panel-orders"] .messages:text-is("5")', { timeout: 10_000 })
  t.pass('the topic shows up with its 5 messages')
  await page.waitForSelector('#groups tr[data-group="billing"] .lag:text-is("5")', { timeout: 10_000 })
  t.pass('the group shows lag 5 before anything is acked')

  const messages = consumer[Symbol.asyncIterator]()
  for (let i = 0; i < 5; i++) (await messages.next()).value!.ack()
  await page.waitForSelector('#groups tr[data-group="billing"] .lag:text-is("0")', { timeout: 10_000 })
  t.pass('lag falls to 0 after the consume')
  t.equal(await page.textContent('#groups tr[data-group="billing"] .inflight'), '0')
})
