/** Greeter: request/reply. Two service processes answer `greet`; a caller sends 100 concurrent requests. */
// Demo scaffolding: stages the parts in this folder with a throwaway broker and checks the outcome.
// In your project the parts run on their own, pointed at your broker by SKIFF_URL.
import { check, runExample } from '../lib/demo-runner.mjs'

const here = (f) => new URL(f, import.meta.url).pathname

await runExample('greeter', async (ctx) => {
  const services = [ctx.part('service-1', here('service.mjs')), ctx.part('service-2', here('service.mjs'))]
  await Promise.all(services.map((s) => s.waitFor(/serving greet/)))
  const r = await ctx.part('caller', here('caller.mjs')).result(30_000)
  check(r.correct === 100, `100 correct replies, got ${r.correct}`)
  check(Object.keys(r.servers).length === 2, `both services answered: ${JSON.stringify(r.servers)}`)
  check(r.nobody === 'NO_RESPONDERS', `a request nobody serves fails with NO_RESPONDERS, got ${r.nobody}`)
  check(r.slow === 'TIMEOUT', `a request slower than its timeout fails with TIMEOUT, got ${r.slow}`)
  return `100/100 greetings answered by ${Object.entries(r.servers).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(' ')}; NO_RESPONDERS and TIMEOUT as expected`
})
