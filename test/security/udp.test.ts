/**
 * UDP telemetry under an auth file: a datagram must be signed by a user with
 * a plain token and may only go to a topic that user may publish to. The
 * broker counts each refusal and stores nothing from it.
 */
import t from 'tap'
import { telemetry, connect } from '../../clients/index.js'
import { TOKENS, authBroker } from './helpers.js'

async function udpCounts(httpPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^skiff_udp_datagrams_total\{result="(\w+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2])
  return out
}

t.test('UDP datagrams are authorized like publishes', async (t) => {
  const { broker } = await authBroker(t, [
    { name: 'sensor', token: TOKENS.app, publish: ['metrics.>'] },
    { name: 'admin', token: TOKENS.admin, admin: true },
  ])
  t.ok(broker.udpPort, 'UDP is on')
  const url = `udp://127.0.0.1:${broker.udpPort}`
  const send = async (topic: string, opts: { user?: string; token?: string }) => {
    const s = telemetry(url, { ...opts, lingerMs: 0 })
    s.send(topic, 'reading')
    await s.close()
  }
  await send('metrics.cpu', { user: 'sensor', token: TOKENS.app })
  await send('billing.cpu', { user: 'sensor', token: TOKENS.app })
  await send('metrics.cpu', { user: 'sensor', token: 'wrong-token-0123456789abcdef' })
  await send('metrics.cpu', { user: 'ghost', token: TOKENS.app })
  await send('metrics.cpu', {})

  let counts: Record<string, number> = {}
  for (let i = 0; i < 100; i++) {
    counts = await udpCounts(broker.httpPort)
    if ((counts.accepted ?? 0) + (counts.forbidden ?? 0) + (counts.unauthorized ?? 0) >= 5) break
    await new Promise((r) => setTimeout(r, 50))
  }
  t.equal(counts.accepted, 1, 'the signed datagram to an allowed topic is accepted')
  t.equal(counts.forbidden, 1, 'a topic outside the user\'s patterns is forbidden')
  t.equal(counts.unauthorized, 3, 'a wrong token, an unknown user and no signature are unauthorized')

  const admin = await connect(`skiff://127.0.0.1:${broker.port}`, { name: 'check', token: TOKENS.admin })
  t.teardown(() => admin.close())
  const topics = (await admin.admin.listTopics()).map((x) => x.topic)
  t.ok(topics.includes('metrics.cpu'), 'the accepted reading was stored')
  t.notOk(topics.includes('billing.cpu'), 'the forbidden one created nothing')
  const d = await admin.admin.describeTopic('metrics.cpu')
  t.equal(d.partitionInfo.reduce((n, p) => n + p.endOffset - p.startOffset, 0), 1, 'exactly one reading in metrics.cpu')
})
