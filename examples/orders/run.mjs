/** Orders: an HTTP API with JWT login in front of asynchronous order processing. */
import { randomBytes } from 'node:crypto'
// Demo scaffolding: stages the parts in this folder with a throwaway broker and checks the outcome.
// In your project the parts run on their own, pointed at your broker by SKIFF_URL.
import { check, runExample } from '../lib/demo-runner.mjs'

const here = (f) => new URL(f, import.meta.url).pathname

await runExample('orders', async (ctx) => {
  const api = ctx.part('api', here('api.mjs'), [], { ORDERS_JWT_SECRET: randomBytes(32).toString('hex') })
  const port = /listening on (\d+)/.exec(await api.waitFor(/listening on/))[1]
  const workers = [ctx.part('worker-1', here('worker.mjs')), ctx.part('worker-2', here('worker.mjs'))]
  await Promise.all(workers.map((w) => w.waitFor(/subscribed/)))
  const r = await ctx.part('shopper', here('shopper.mjs'), [port]).result(40_000)

  check(r.badLogin === 401 && r.noToken === 401, `bad password and missing token are 401 (${r.badLogin}, ${r.noToken})`)
  check(r.notYours === 404, `another user cannot read the order (${r.notYours})`)
  const status = Object.fromEntries(Object.entries(r.final).map(([k, v]) => [k, v.status]))
  const want = { book: 'completed', lamp: 'completed', mug: 'completed', invalid: 'rejected', declined: 'failed' }
  check(Object.entries(want).every(([k, v]) => status[k] === v), `final statuses ${JSON.stringify(status)}, want ${JSON.stringify(want)}`)
  const declined = r.final.declined.history
  check(declined.filter((h) => h.startsWith('payment-declined')).length === 3, `the declined payment was tried 3 times: ${declined.join(' -> ')}`)
  check(r.final.book.history.join(',') === 'received,validated,reserved (2xsku-book),paid (25.00 EUR),completed', `statuses in order: ${r.final.book.history.join(' -> ')}`)
  return `3 orders completed, 1 rejected (invalid), 1 failed after 3 declined payments; JWT login and per-user access checked`
})
