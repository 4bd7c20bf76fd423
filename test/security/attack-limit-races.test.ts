/**
 * Issue 13, item 6 (and item 10's costly refusal): limits bypassed by
 * pipelining. With maxTopics 20, 300 pipelined PUBLISHes created 300 topics,
 * signed UDP telemetry created 200, a SUBSCRIBE to a chain of `.dlq` names
 * created 62; with maxSubscriptionsPerConnection 100 one connection held 962
 * subscriptions. Each was a check, then an await, then the change. Limits are
 * now reserved before the first await: maxTopics by the TopicRegistry
 * (existing + being created, on every path that creates a topic), a
 * subscription and its id on the connection. A refusal past maxTopics costs
 * O(1) (it used to sort every topic name).
 */
import t from 'tap'
import { Op, decodeError, encodePublish, encodeRecord, encodeSubscribe, encodeTopicCreate, encodeTopicList, encodeUnsubscribe, unpack, type Frame } from '../../protocol/index.js'
import { telemetry } from '../../clients/index.js'
import { TOKENS, answer, authBroker, login, until, type RawPeer } from './helpers.js'

const SENSOR = 'sensor-token-0123456789abcdef'
const users = [
  { name: 'app', token: TOKENS.app, publish: ['q.>', 'm.>'], subscribe: ['q', 'q.>', 'm.>'], admin: true },
  { name: 'sensor', token: SENSOR, publish: ['m.>'] },
]
const record = encodeRecord({ payload: Buffer.from('x') })

/** The names of every topic, through TOPIC_LIST. */
async function topicNames(p: RawPeer, corr: number): Promise<string[]> {
  p.write(encodeTopicList(corr))
  const a = await answer(p, corr)
  return (a.result as { topic: string }[]).map((x) => x.topic)
}

/** Every answer (OK, PUBLISH_ACK or ERROR) to corrs [from, from + n), by corr; waits up to `timeoutMs`. Each frame is decoded once. */
async function answers(p: RawPeer, from: number, n: number, timeoutMs = 20_000): Promise<Map<number, { ok: boolean; error?: string; limit?: unknown }>> {
  const out = new Map<number, { ok: boolean; error?: string; limit?: unknown }>()
  let seen = 0
  const collect = () => {
    for (; seen < p.frames.length; seen++) {
      const a = decode(p.frames[seen]!)
      if (a && a.corr >= from && a.corr < from + n) out.set(a.corr, a)
    }
    return out.size === n
  }
  await until(collect, timeoutMs, 1)
  return out
}

function decode(f: Frame): ({ corr: number } & { ok: boolean; error?: string; limit?: unknown }) | undefined {
  if (f.opcode === Op.ERROR) {
    const e = decodeError(f.body)
    return e.corr === undefined ? undefined : { corr: e.corr, ok: false, error: e.name, limit: e.details?.limit }
  }
  if (f.opcode === Op.OK || f.opcode === Op.PUBLISH_ACK) {
    const corr = (unpack(f.body) as { corr?: number }).corr
    return corr === undefined ? undefined : { corr, ok: true }
  }
  return undefined
}

function tally(m: Map<number, { ok: boolean; error?: string; limit?: unknown }>, limit: string) {
  const v = [...m.values()]
  return {
    ok: v.filter((a) => a.ok).length,
    refused: v.filter((a) => a.error === 'INVALID_REQUEST' && a.limit === limit).length,
    other: v.filter((a) => !a.ok && !(a.error === 'INVALID_REQUEST' && a.limit === limit)).map((a) => a.error),
  }
}

t.test('300 pipelined PUBLISHes to new names create at most maxTopics (20)', async (t) => {
  const { broker } = await authBroker(t, users, { maxTopics: 20 })
  const p = await login(broker.port, TOKENS.app)
  t.teardown(() => p.end())
  p.write(Buffer.concat(Array.from({ length: 300 }, (_, i) => encodePublish({ corr: 1000 + i, topic: `q.new${i}`, count: 1, records: record, confirm: true }))))
  const got = tally(await answers(p, 1000, 300), 'maxTopics')
  t.equal(got.ok, 20, '20 were created')
  t.equal(got.refused, 280, 'the rest were refused with details.limit maxTopics')
  t.same(got.other, [], 'and nothing else (no INTERNAL)')
  t.equal((await topicNames(p, 1)).length, 20, 'the broker holds 20 topics')
  // Pipelined TOPIC_CREATE and SUBSCRIBE meet the same count.
  p.write(encodeTopicCreate({ corr: 2, topic: 'q.created' }))
  p.write(encodeSubscribe({ corr: 3, sub: 1, topic: 'q.subscribed', group: 'g', start: 'latest', maxInFlight: 1 }))
  t.match(await answer(p, 2), { ok: false, error: 'INVALID_REQUEST', details: { limit: 'maxTopics' } })
  t.match(await answer(p, 3), { ok: false, error: 'INVALID_REQUEST', details: { limit: 'maxTopics' } })
  t.equal((await topicNames(p, 4)).length, 20)
})

t.test('signed UDP telemetry to 200 new names creates none past maxTopics', async (t) => {
  const { broker } = await authBroker(t, users, { maxTopics: 20 })
  const p = await login(broker.port, TOKENS.app)
  t.teardown(() => p.end())
  for (let i = 0; i < 5; i++) {
    p.write(encodePublish({ corr: 10 + i, topic: `q.before${i}`, count: 1, records: record, confirm: true }))
    t.match(await answer(p, 10 + i), { ok: true })
  }
  const sender = telemetry(`udp://127.0.0.1:${broker.udpPort}`, { user: 'sensor', token: SENSOR, lingerMs: 0 })
  for (let i = 0; i < 200; i++) {
    sender.send(`m.reading${i}`, 'reading')
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 20)) // bounded bursts: the kernel may drop a flood of datagrams
  }
  await sender.close()
  const counts = async () => {
    const text = await (await fetch(`http://127.0.0.1:${broker.httpPort}/metrics`)).text()
    const out: Record<string, number> = {}
    for (const m of text.matchAll(/^skiff_udp_datagrams_total\{result="(\w+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2])
    return out
  }
  let c: Record<string, number> = {}
  for (let i = 0; i < 100; i++) {
    c = await counts()
    if ((c.accepted ?? 0) + (c.unknown_topic ?? 0) + (c.overloaded ?? 0) >= 200) break
    await new Promise((r) => setTimeout(r, 50))
  }
  t.comment(`UDP results: ${JSON.stringify(c)}`)
  t.ok((c.accepted ?? 0) <= 15, `${c.accepted ?? 0} readings stored: only the 15 topics left under the limit`)
  t.ok((c.unknown_topic ?? 0) >= 150, `${c.unknown_topic ?? 0} refused as unknown_topic (not created)`)
  const names = await topicNames(p, 1)
  t.ok(names.length <= 20, `${names.length} topics after the flood (maxTopics 20)`)
})

t.test('a SUBSCRIBE to a chain of .dlq names creates nothing', async (t) => {
  const { broker } = await authBroker(t, users, { maxTopics: 20 })
  const p = await login(broker.port, TOKENS.app)
  t.teardown(() => p.end())
  const chain = 'q' + '.dlq'.repeat(61)
  t.equal(chain.length, 245)
  p.write(encodeSubscribe({ corr: 1, sub: 1, topic: chain, group: 'g', start: 'latest', maxInFlight: 1 }))
  t.match(await answer(p, 1), { ok: false, error: 'UNKNOWN_TOPIC', details: { topic: chain } })
  t.same(await topicNames(p, 2), [], 'no topic was created, not even q')
})

t.test('962 pipelined SUBSCRIBEs hold at most maxSubscriptionsPerConnection (100)', async (t) => {
  const { broker } = await authBroker(t, users, { maxSubscriptionsPerConnection: 100 })
  const p = await login(broker.port, TOKENS.app)
  t.teardown(() => p.end())
  p.write(encodePublish({ corr: 1, topic: 'q.subs', count: 1, records: record, confirm: true }))
  t.match(await answer(p, 1), { ok: true }, 'the topic exists, so every SUBSCRIBE reaches the same await')
  p.write(Buffer.concat(Array.from({ length: 962 }, (_, i) => encodeSubscribe({ corr: 1000 + i, sub: i + 1, topic: i % 2 ? 'q.subs' : `q.fresh${i}`, group: `g${i}`, start: 'latest', maxInFlight: 1 }))))
  const got = tally(await answers(p, 1000, 962), 'maxSubscriptionsPerConnection')
  t.equal(got.ok, 100, '100 subscriptions were made')
  t.equal(got.refused, 862, 'the rest were refused with details.limit maxSubscriptionsPerConnection')
  t.same(got.other, [])

  // Two pipelined SUBSCRIBEs with one id: one wins. (Free a place first.)
  const held = [...(await answers(p, 1000, 962))].filter(([, a]) => a.ok).map(([corr]) => corr - 999)
  p.write(encodeUnsubscribe({ corr: 3000, sub: held[0]! }))
  p.write(encodeUnsubscribe({ corr: 3001, sub: held[1]! }))
  t.match(await answer(p, 3000), { ok: true })
  t.match(await answer(p, 3001), { ok: true })
  p.write(encodeSubscribe({ corr: 3002, sub: 5000, topic: 'q.subs', group: 'twin', start: 'latest', maxInFlight: 1 }))
  p.write(encodeSubscribe({ corr: 3003, sub: 5000, topic: 'q.subs', group: 'twin', start: 'latest', maxInFlight: 1 }))
  const twins = [await answer(p, 3002), await answer(p, 3003)]
  t.equal(twins.filter((a) => a.ok).length, 1, 'one id, one subscription')
  t.match(twins.find((a) => !a.ok), { error: 'INVALID_REQUEST' })
  // A refused subscribe gives its reservation back: a place is still free.
  p.write(encodeSubscribe({ corr: 3004, sub: 5001, topic: 'q.subs', group: 'last', start: 'latest', maxInFlight: 1 }))
  t.match(await answer(p, 3004), { ok: true }, 'the 100th place')
  p.write(encodeSubscribe({ corr: 3005, sub: 5002, topic: 'q.subs', group: 'over', start: 'latest', maxInFlight: 1 }))
  t.match(await answer(p, 3005), { ok: false, error: 'INVALID_REQUEST', details: { limit: 'maxSubscriptionsPerConnection' } })
  t.notOk(p.closed)
})

t.test('a PUBLISH refused past maxTopics is cheap', async (t) => {
  const TOPICS = 1000
  const { broker } = await authBroker(t, users, { maxTopics: TOPICS, fsync: 'never' })
  const p = await login(broker.port, TOKENS.app)
  t.teardown(() => p.end())
  for (let i = 0; i < TOPICS; i += 100) {
    p.write(Buffer.concat(Array.from({ length: 100 }, (_, k) => encodePublish({ corr: 10_000 + i + k, topic: `q.t${i + k}`, count: 1, records: record, confirm: true }))))
    t.equal(tally(await answers(p, 10_000 + i, 100), 'maxTopics').ok, 100)
  }
  const time = async (from: number, topic: (i: number) => string) => {
    const n = 2000
    const started = performance.now()
    p.write(Buffer.concat(Array.from({ length: n }, (_, i) => encodePublish({ corr: from + i, topic: topic(i), count: 1, records: record, confirm: true }))))
    const got = await answers(p, from, n)
    return { us: ((performance.now() - started) * 1000) / n, got: tally(got, 'maxTopics') }
  }
  const refused = await time(100_000, (i) => `q.over${i}`)
  t.equal(refused.got.refused, 2000, 'every publish to a new name is refused with the limit')
  const stored = await time(200_000, () => 'q.t0')
  t.equal(stored.got.ok, 2000, 'publishes to an existing topic go on')
  t.comment(`with ${TOPICS} topics: a refused PUBLISH to a new name ${refused.us.toFixed(1)} us each, a stored one ${stored.us.toFixed(1)} us (2,000 pipelined, answers included)`)
  t.equal((await topicNames(p, 1)).length, TOPICS)
})
