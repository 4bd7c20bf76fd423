/**
 * Panel: the broker's own web page at http://<broker>:<httpPort>/ while a
 * producer and a slow consumer run. Checks /api/overview (the page's data)
 * shows the topic and the group's lag going back to 0. With --keep it stays
 * up for you to open the page (Ctrl-C to stop).
 */
// Demo scaffolding: stages the parts in this folder with a throwaway broker and checks the outcome.
// In your project the parts run on their own, pointed at your broker by SKIFF_URL.
import { check, runExample } from '../lib/demo-runner.mjs'

const here = (f) => new URL(f, import.meta.url).pathname
const keep = process.argv.includes('--keep')

await runExample(
  'panel',
  async (ctx) => {
    const page = `http://127.0.0.1:${ctx.httpPort}/`
    console.log(`panel: open ${page}`)
    const overview = async () => (await fetch(`${page}api/overview`)).json()
    const html = await (await fetch(page)).text()
    check(html.includes('skiffmq panel'), 'the page is served at /')
    const producer = ctx.part('producer', here('traffic.mjs'), ['produce'])
    await producer.waitFor(/published|@result/, 20_000).catch(() => {})
    const consumer = ctx.part('consumer', here('traffic.mjs'), ['consume'])
    await consumer.waitFor(/subscribed/)
    let maxLag = 0
    let group
    for (let i = 0; i < 200; i++) {
      const o = await overview()
      group = o.groups.find((g) => g.group === 'analytics')
      if (group) maxLag = Math.max(maxLag, group.lag)
      if (group && maxLag > 0 && group.lag === 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const o = await overview()
    const topic = o.topics.find((t) => t.topic === 'clicks')
    check(topic?.messages === 300, `the topic shows 300 messages (got ${topic?.messages})`)
    check(maxLag > 0 && group?.lag === 0, `the group's lag rose (max ${maxLag}) and fell to 0 (now ${group?.lag})`)
    check(o.connections.length >= 1, 'connections are listed')
    if (keep) {
      console.log(`panel: still up at ${page}; Ctrl-C to stop`)
      await new Promise(() => {})
    }
    return `clicks: 300 messages in ${topic.partitions.length} partitions; group analytics lag peaked at ${maxLag}, now 0; ${o.connections.length} connection(s) listed; page at ${page}`
  },
  { timeoutMs: keep ? 24 * 3600_000 : 60_000 },
)
