/** Sign-up: a work queue with two competing consumers, retries and a dead-letter topic. */
// Demo scaffolding: stages the parts in this folder with a throwaway broker and checks the outcome.
// In your project the parts run on their own, pointed at your broker by SKIFF_URL.
import { check, runExample } from '../lib/demo-runner.mjs'

const here = (f) => new URL(f, import.meta.url).pathname

await runExample('signup', async (ctx) => {
  await ctx.part('setup', here('producer.mjs'), ['create']).result() // 4 partitions, so both workers get some
  const workers = [ctx.part('welcomer-1', here('welcomer.mjs')), ctx.part('welcomer-2', here('welcomer.mjs'))]
  const ops = ctx.part('dlq-reporter', here('dlq-reporter.mjs'))
  await Promise.all([...workers, ops].map((p) => p.waitFor(/subscribed|watching/)))

  await ctx.part('producer', here('producer.mjs')).result()
  const welcomed = () => workers.flatMap((w) => w.lines.filter((l) => l.startsWith('welcome email sent')))
  const dead = await ops.waitFor(/^DEAD-LETTERED/, 30_000)
  for (let i = 0; i < 200 && welcomed().length < 19; i++) await new Promise((r) => setTimeout(r, 50))
  await Promise.all(workers.map((w) => w.stop()))
  const [a, b] = await Promise.all(workers.map((w) => w.result()))

  const emails = welcomed().map((l) => /<(.+)>/.exec(l)[1])
  check(emails.length === 19 && new Set(emails).size === 19, `19 welcome emails, each once (got ${emails.length}, ${new Set(emails).size} distinct)`)
  check(a.sent > 0 && b.sent > 0, `both workers took a share (${a.sent} and ${b.sent})`)
  check(/not-an-email after 3 deliveries/.test(dead), `the bad record is dead-lettered after 3 deliveries: ${dead}`)
  check(a.retried + b.retried >= 2, `the bad record was retried (${a.retried + b.retried} nacks)`)
  return `19/19 welcome emails (welcomer-1 ${a.sent}, welcomer-2 ${b.sent}); bad record retried ${a.retried + b.retried}x then dead-lettered to signups.dlq`
})
