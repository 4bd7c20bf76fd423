/**
 * The panel in headless Chromium (Debian's chromium, driven over the DevTools
 * protocol by playwright-core, as panel.test.ts does) against a broker with
 * an auth file. As admin: the node view, a rate sparkline with points after
 * traffic, a `.dlq` topic marked with its depth under its origin, a message
 * published through the form and peeked back, a client connection closed
 * (the client sees the close); the actions the broker does not have yet show
 * its error. As monitor: no action buttons, and a POST from the page is 403.
 * A screenshot of the admin's page is saved and its path printed.
 * Skipped, with a message, where /usr/bin/chromium is absent.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startBroker } from '../../broker/index.js'
import { connect } from '../../clients/index.js'
import { ADMIN, APP, MONITOR, writePanelAuthFile } from './panel-helpers.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

t.test('the panel acts, for an admin only', { skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium)` }, async (t) => {
  const { chromium } = await import('playwright-core')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-panel-actions-'))
  const broker = await startBroker({ port: 0, httpPort: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', dataDir: path.join(dir, 'data'), authFile: writePanelAuthFile(dir) })
  const ops = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'panel-traffic', user: APP.user, token: APP.token })
  const victim = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'victim', user: APP.user, token: APP.token })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  })
  t.teardown(async () => {
    await browser.close()
    await victim.close()
    await ops.close()
    await broker.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${broker.httpPort}/`

  // Traffic, and two dead letters in orders.dlq.
  const producer = ops.producer()
  for (let i = 0; i < 20; i++) await producer.publish('orders', { n: i })
  const consumer = await ops.subscribe('orders', { group: 'billing', from: 'earliest' })
  const it = consumer[Symbol.asyncIterator]()
  for (let i = 0; i < 20; i++) {
    const m = (await it.next()).value!
    if (i < 2) m.term()
    else m.ack()
  }

  t.test('as admin', async (t) => {
    const context = await browser.newContext({ httpCredentials: { username: ADMIN.user, password: ADMIN.token } })
    t.teardown(() => context.close())
    const page = await context.newPage()
    page.on('dialog', (d) => void d.accept())
    await page.goto(url, { timeout: 15_000 })
    await page.waitForSelector('#me:text("logged in as ops (admin)")', { timeout: 10_000 })
    await page.waitForSelector('#node dd[data-k="version"]', { timeout: 10_000 })
    t.match(await page.textContent('#node dd[data-k="version"]'), /^skiffmq \d+\.\d+\.\d+/)
    t.match(await page.textContent('#node dd[data-k="disk"]'), /used, .* free of /)
    t.match(await page.textContent('#node dd[data-k="fsync"]'), /^always/)
    t.match(await page.textContent('#node dd[data-k="rss"]'), /MiB/)

    await page.waitForSelector('#topics tr[data-topic="orders"] .dlq-depth:text-is("2")', { timeout: 10_000 })
    t.pass('the origin row shows its DLQ depth')
    t.equal(await page.getAttribute('#topics tr[data-topic="orders"] + tr', 'data-topic'), 'orders.dlq', 'the DLQ is listed under its origin')
    t.equal(await page.textContent('#topics tr[data-topic="orders.dlq"] .dlq-badge'), 'DLQ')
    t.equal(await page.textContent('#topics tr[data-topic="orders.dlq"] .messages'), '2')

    // The broker samples every 5 s; the page asks every 5 s.
    const spark = await page.waitForSelector('#topics tr[data-topic="orders"] svg.spark', { timeout: 20_000 })
    t.ok(Number(await spark.getAttribute('data-points')) >= 1, 'a rate series with points')
    t.ok(Number(await spark.getAttribute('data-peak')) > 0, 'and a non-zero rate')
    t.equal(await page.locator('#topics tr[data-topic="orders"] svg.spark polyline').count(), 3, 'publish, deliver and ack')

    await page.fill('#publish-form [name=topic]', 'orders')
    await page.fill('#publish-form [name=key]', 'from-the-panel')
    await page.fill('#publish-form [name=payload]', 'hello from the panel')
    await page.click('#publish-form button[type=submit]')
    await page.waitForSelector('#action-result.ok:text("published to orders partition 0 at offset 20")', { timeout: 10_000 })
    t.pass('published through the form')
    await page.fill('#peek-form [name=topic]', 'orders')
    await page.fill('#peek-form [name=offset]', '20')
    await page.fill('#peek-form [name=count]', '5')
    await page.click('#peek-form button[type=submit]')
    await page.waitForSelector('#peek-results tr[data-offset="20"]', { timeout: 10_000 })
    t.equal(await page.textContent('#peek-results tr[data-offset="20"] .payload'), 'hello from the panel', 'and peeked back')
    t.match(await page.textContent('#peek-results tr[data-offset="20"]'), /from-the-panel/)

    const closed = new Promise<Error>((resolve) => victim.once('error', resolve))
    const disconnected = new Promise((resolve) => victim.once('disconnect', resolve))
    // A locator, not an element handle: the table is redrawn on every refresh, so the button is found again at the click.
    await page.locator('#connections tr:has-text("victim") button[data-close]').click({ timeout: 10_000 })
    await page.fill('#close-form [name=reason]', 'maintenance window')
    await page.click('#close-form button[type=submit]')
    await page.waitForSelector('#action-result.ok:text("closed")', { timeout: 10_000 })
    await disconnected
    t.match(await closed, { codeName: 'CONNECTION_CLOSED', message: /closed by ops from the panel: maintenance window/ }, 'the client got the reason and the close')

    await page.fill('#purge-form [name=topic]', 'nope')
    await page.click('#purge-form button[type=submit]')
    await page.waitForSelector('#action-result.err', { timeout: 10_000 })
    t.match(await page.textContent('#action-result'), /UNKNOWN_TOPIC: topic nope does not exist/, 'a broker error is shown')
    await page.fill('#purge-form [name=topic]', 'orders')
    // Every dialog is accepted (above); this one's question is kept.
    const asked = new Promise<string>((resolve) => page.once('dialog', (d) => resolve(d.message())))
    await page.click('#purge-form button[type=submit]')
    t.match(await asked, /Delete every message of orders\?/, 'the page asks before purging')
    await page.waitForSelector('#action-result.ok:text("orders purged")', { timeout: 10_000 })
    t.pass('and purges once confirmed')

    const shot = path.resolve('.tap', `panel-actions-${process.pid}.png`)
    fs.mkdirSync(path.dirname(shot), { recursive: true })
    const cdp = await context.newCDPSession(page)
    const { data } = (await cdp.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string }
    fs.writeFileSync(shot, Buffer.from(data, 'base64'))
    t.comment(`screenshot: ${shot}`)
  })

  t.test('as monitor', async (t) => {
    const context = await browser.newContext({ httpCredentials: { username: MONITOR.user, password: MONITOR.token } })
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(url, { timeout: 15_000 })
    await page.waitForSelector('#me:text("monitor: read-only")', { timeout: 10_000 })
    await page.waitForSelector('#topics tr[data-topic="orders"]', { timeout: 10_000 })
    await page.waitForSelector('#connections tr[data-conn]', { timeout: 10_000 })
    t.equal(await page.locator('button.action').count(), 0, 'no action buttons')
    t.equal(await page.locator('#actions').count(), 0, 'no actions section')
    const status = await page.evaluate(async () => {
      const res = await fetch('/api/actions/publish', { method: 'POST', headers: { 'content-type': 'application/json', 'x-skiff-panel': '1' }, body: JSON.stringify({ topic: 'orders', payload: 'x' }) })
      return res.status
    })
    t.equal(status, 403, 'a POST from the monitor page is refused')
  })
})
