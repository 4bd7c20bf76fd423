/**
 * A link to a peer broker that cannot be reached (down, or cut off by the
 * network) tries again at most BACKOFF_MAX_MS apart, so replication resumes
 * within a second of the peer coming back; it logs the outage once, however
 * many tries fail, and the return once. The retry schedule is read from what
 * the link answers while it waits ("next try in N ms"), not from timings.
 */
import t from 'tap'
import { BACKOFF_MAX_MS, PeerLink } from '../../broker/cluster/peer-link.js'
import { freePort, sleep } from '../reliability/harness.js'
import { startTestBroker } from '../e2e/helpers.js'

interface Logged {
  level: string
  msg: string
  fields: Record<string, unknown> | undefined
}

t.test('retries at most a second apart while the peer is unreachable, and connects once it listens', async (t) => {
  const port = await freePort()
  const logged: Logged[] = []
  const link = new PeerLink({
    peer: { id: 2, host: '127.0.0.1', port, incarnation: 'peer-link-test' },
    hello: () => ({ client: 'peer-link-test' }),
    maxInFlight: 4,
    log: (level, msg, fields) => logged.push({ level, msg, fields }),
  })
  t.teardown(() => link.close())
  const ask = (timeoutMs: number) => link.request('peer-link-test', Buffer.alloc(0), timeoutMs)

  const failures = 7
  const waits: number[] = []
  for (let i = 0; i < failures; i++) {
    const tried = await ask(1000)
    t.equal(tried.kind, 'unreachable', `try ${i + 1} fails: nothing listens on port ${port}`)
    const refused = await ask(1000)
    const wait = refused.kind === 'unreachable' ? /next try in (\d+) ms/.exec(refused.reason) : null
    t.ok(wait, `until the backoff has passed the link refuses at once, naming the wait: ${JSON.stringify(refused)}`)
    waits.push(Number(wait?.[1] ?? 0))
    await sleep(Number(wait?.[1] ?? 0) + 20)
  }
  t.ok(waits.every((w) => w <= BACKOFF_MAX_MS), `every wait at most ${BACKOFF_MAX_MS} ms: ${waits.join(', ')}`)
  t.ok(waits.slice(-3).every((w) => w >= BACKOFF_MAX_MS - 100), `the waits grow to the cap: ${waits.join(', ')}`)
  const warnings = logged.filter((l) => l.msg === 'peer broker unreachable')
  t.equal(warnings.length, 1, `one warning for ${failures} failed tries`)
  t.match(warnings[0]?.fields, { broker: 2, attempts: 1 })

  // The peer comes up on its address: the next try connects, and its return is logged once.
  await startTestBroker(t, 1, { port })
  await sleep(BACKOFF_MAX_MS)
  const answer = await ask(5000)
  t.not(answer.kind, 'unreachable', `connected: ${JSON.stringify(answer)}`)
  const back = logged.filter((l) => l.msg === 'peer broker reachable again')
  t.equal(back.length, 1, 'its return is logged once')
  t.match(back[0]?.fields, { broker: 2, attempts: failures })
})
