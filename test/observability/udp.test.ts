/**
 * UDP telemetry against a real broker: readings sent with telemetry() reach
 * a consumer group; bad datagrams are dropped, counted by reason, never stored
 * and never answered.
 */
import t from 'tap'
import { Reader, startTestBroker } from '../e2e/helpers.js'
import { telemetry } from '../../clients/index.js'
import { scrapeUntil, value } from './scrape.js'
import { buildDatagram, listenUdp, rawSender } from './udp-helpers.js'

t.test('100 readings sent with telemetry() reach a consumer group', async (t) => {
  const tb = await startTestBroker(t, 3)
  t.equal(tb.broker.udpPort, tb.broker.port, 'UDP listens on the TCP port number')
  const client = await tb.client()
  await client.admin.createTopic('sensors', { partitions: 3 })
  const reader = new Reader(await client.subscribe('sensors', { group: 'dashboard', from: 'earliest', maxInFlight: 200 }))

  const sender = telemetry(`udp://127.0.0.1:${tb.broker.udpPort}`)
  for (let i = 0; i < 100; i++) {
    t.equal(sender.send('sensors', { i, celsius: 20 + i / 10 }, { key: `room-${i % 4}`, headers: { unit: 'C' } }), true)
  }
  await sender.close()
  t.ok(sender.stats.datagrams > 1 && sender.stats.datagrams < 100, `readings packed into ${sender.stats.datagrams} datagrams`)
  t.equal(sender.stats.records, 100)

  const got = await reader.take(100, 8000)
  for (const m of got) m.ack()
  const byIndex = new Map(got.map((m) => [(m.decode() as { i: number }).i, m]))
  t.equal(byIndex.size, 100, 'every reading once')
  for (let i = 0; i < 100; i++) {
    const m = byIndex.get(i)
    t.ok(m, `reading ${i}`)
    if (!m) continue
    if (m.key !== `room-${i % 4}` || m.headers.unit !== 'C' || (m.decode() as { celsius: number }).celsius !== 20 + i / 10) {
      t.fail(`reading ${i} arrived changed: ${JSON.stringify({ key: m.key, headers: m.headers, value: m.decode() })}`)
    }
  }
  const perKey = new Map<string, Set<number>>()
  for (const m of got) perKey.set(m.key!, (perKey.get(m.key!) ?? new Set()).add(m.partition))
  for (const [key, partitions] of perKey) t.equal(partitions.size, 1, `${key} always lands in one partition`)

  const s = await scrapeUntil(tb.broker.httpPort, [
    ['skiff_udp_datagrams_total', { result: 'accepted' }, sender.stats.datagrams],
    ['skiff_messages_published_total', { topic: 'sensors' }, 100],
  ])
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'accepted' }), sender.stats.datagrams)
  t.equal(value(s, 'skiff_messages_published_total', { topic: 'sensors' }), 100)
})

t.test('bad datagrams are counted by reason, never stored, never answered', async (t) => {
  const tb = await startTestBroker(t, 1, { udpMaxDatagram: 512, autoCreateTopics: false })
  const client = await tb.client()
  await client.admin.createTopic('sensors')
  const port = tb.broker.udpPort!
  const good = buildDatagram({ topic: 'sensors', records: [{ key: 'k', payload: Buffer.from('21.5') }, { payload: Buffer.from('22.0') }] })

  // Headers that are not a MessagePack map: a record the publish path refuses.
  const withBadHeaders = Buffer.concat([good.subarray(0, 4 + 'sensors'.length), u32(1), encodeBadHeaderRecord()])

  const cases: [reason: string, datagram: Buffer][] = [
    ['garbage', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['garbage', Buffer.alloc(0)],
    ['garbage', Buffer.from([0x40, 9, 0, 1, 0x61])], // unknown version
    ['garbage', Buffer.from([0x40, 1, 0x80, 1, 0x61])], // unknown flag
    ['truncated', good.subarray(0, good.length - 3)],
    ['truncated', good.subarray(0, 6)],
    ['truncated', buildDatagram({ topic: 'sensors', records: [{ payload: Buffer.from('x') }], count: 2 })],
    ['malformed', buildDatagram({ topic: 'sensors', records: [{ payload: Buffer.from('x') }, { payload: Buffer.from('y') }], count: 1 })],
    ['malformed', buildDatagram({ topic: 'sensors', records: [], count: 0 })],
    ['malformed', withBadHeaders],
    ['bad_topic', buildDatagram({ topic: 'sensors.dlq', records: [{ payload: Buffer.from('x') }] })],
    ['bad_topic', buildDatagram({ topic: '../etc', records: [{ payload: Buffer.from('x') }] })],
    ['unknown_topic', buildDatagram({ topic: 'nosuch', records: [{ payload: Buffer.from('x') }] })],
    ['oversize', buildDatagram({ topic: 'sensors', records: [{ payload: Buffer.alloc(600, 1) }] })],
  ]
  const sender = await rawSender()
  t.teardown(() => sender.close())
  for (const [, d] of cases) await sender.send(port, d)

  const expected = new Map<string, number>()
  for (const [reason] of cases) expected.set(reason, (expected.get(reason) ?? 0) + 1)
  const s = await scrapeUntil(tb.broker.httpPort, [...expected].map(([result, n]) => ['skiff_udp_datagrams_total', { result }, n] as [string, Record<string, string>, number]))
  for (const [result, n] of expected) t.equal(value(s, 'skiff_udp_datagrams_total', { result }), n, `${result}: ${n}`)
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'accepted' }), 0, 'none accepted')
  t.equal(value(s, 'skiff_messages_published_total', { topic: 'sensors' }), 0, 'nothing stored')
  t.notOk((await client.admin.listTopics()).some((x) => x.topic === 'nosuch'), 'no topic created')

  // The good datagram still goes through, and a signed one too: without auth
  // configured the signature is not needed, nor checked.
  await sender.send(port, good)
  await sender.send(port, buildDatagram({ topic: 'sensors', records: [{ payload: Buffer.from('23.0') }], user: 'app', token: 'not-checked' }))
  const after = await scrapeUntil(tb.broker.httpPort, [
    ['skiff_udp_datagrams_total', { result: 'accepted' }, 2],
    ['skiff_messages_published_total', { topic: 'sensors' }, 3],
  ])
  t.equal(value(after, 'skiff_udp_datagrams_total', { result: 'accepted' }), 2)
  t.equal(value(after, 'skiff_messages_published_total', { topic: 'sensors' }), 3)

  // No answer ever comes back, to good or bad datagrams alike.
  await new Promise((r) => setTimeout(r, 200))
  t.equal(sender.answers.length, 0, 'the broker never answers a datagram')
})

t.test('the client packs by size: a full datagram leaves at once, each under maxDatagramBytes', async (t) => {
  const listener = await listenUdp()
  t.teardown(() => listener.close())
  const sender = telemetry(`udp://127.0.0.1:${listener.port}`, { maxDatagramBytes: 300, lingerMs: 60_000 })
  t.teardown(() => sender.close())
  for (let i = 0; i < 20; i++) sender.send('sensors', Buffer.alloc(40, i))
  // 20 records of 50 bytes: the first full datagrams went without waiting for the (long) linger.
  const deadline = Date.now() + 5000
  while (listener.received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.ok(listener.received.length >= 3, 'full datagrams sent before the linger')
  await sender.flush()
  while (sender.stats.datagrams > listener.received.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.equal(listener.received.length, sender.stats.datagrams)
  for (const d of listener.received) t.ok(d.length <= 300, `${d.length} bytes`)
  const records = listener.received.reduce((n, d) => n + d.readUInt32BE(4 + 'sensors'.length), 0)
  t.equal(records, 20, 'every record in some datagram')
  t.throws(() => sender.send('x.dlq', 'no'), { name: 'SkiffError', codeName: 'INVALID_REQUEST' })
  t.throws(() => sender.send('big', Buffer.alloc(70_000)), { name: 'SkiffError', codeName: 'INVALID_REQUEST' }, 'a reading larger than UDP allows')
  t.throws(() => telemetry('skiff://127.0.0.1:7600'), { name: 'SkiffError', codeName: 'INVALID_REQUEST' }, 'needs udp://')
})

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/** A record whose headers field holds bytes that are not a MessagePack map. */
function encodeBadHeaderRecord(): Buffer {
  const headers = Buffer.from([0xc1, 0xc1, 0xc1]) // 0xc1 is never valid MessagePack
  const payload = Buffer.from('x')
  const len = 2 + 0 + 4 + headers.length + payload.length
  return Buffer.concat([u32(len), Buffer.from([0, 0]), u32(headers.length), headers, payload])
}
