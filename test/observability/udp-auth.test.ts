/**
 * The datagram reader and the HMAC check, through a real UDP socket: the
 * ingest is given the token set the auth layer will supply and a store that
 * keeps what it is handed (standing in for the worker pool, which the broker
 * tests cover). Datagrams come from the real client encoder (captured by a
 * listener) and from a builder written from PROTOCOL.md.
 */
import t from 'tap'
import fc from 'fast-check'
import { decodeRecords } from '../../protocol/index.js'
import { telemetry } from '../../clients/index.js'
import { createLogger } from '../../broker/logger.js'
import { BrokerMetrics } from '../../broker/observability/metrics.js'
import { UdpIngest } from '../../broker/gateway/udp/ingest.js'
import { decodeDatagram, type Datagram } from '../../broker/gateway/udp/datagram.js'
import type { UdpAuth } from '../../broker/gateway/udp/auth.js'
import { parseSamples, sum, value } from './scrape.js'
import { buildDatagram, listenUdp, rawSender, until } from './udp-helpers.js'

const TOKENS = new Map([
  ['app', 's3cret-app-token'],
  ['readonly', 'another-token'],
])
const auth: UdpAuth = {
  tokenOf: (user) => TOKENS.get(user),
  mayPublish: (user, topic) => user === 'app' || topic.startsWith('public.'),
}

interface Teardown {
  teardown(fn: () => unknown): void
}

async function ingest(t: Teardown, authOn: boolean) {
  const metrics = new BrokerMetrics({ maxMetricTopics: 100, maxMetricGroups: 100, warn: () => {} })
  const stored: Datagram[] = []
  const udp = new UdpIngest({
    maxDatagram: 1024,
    metrics,
    logger: createLogger('silent'),
    store: (d, done) => {
      stored.push(d)
      done('accepted')
    },
    auth: () => (authOn ? auth : undefined),
  })
  const port = await udp.bind(0, '127.0.0.1')
  t.teardown(() => udp.close())
  const counts = async () => parseSamples(await metrics.scrape())
  return { udp, port, stored, counts }
}

/** Datagrams as the client sends them, captured. */
async function clientDatagrams(opts: { user?: string; token?: string }, readings: [topic: string, value: unknown][]): Promise<Buffer[]> {
  const listener = await listenUdp()
  const sender = telemetry(`udp://127.0.0.1:${listener.port}`, opts)
  for (const [topic, v] of readings) sender.send(topic, v, { key: 'k1', headers: { unit: 'C' } })
  await sender.close()
  await until('captured datagrams', () => listener.received.length === sender.stats.datagrams)
  await listener.close()
  return listener.received
}

t.test('the client encoder and the broker reader agree', async (t) => {
  const [signed] = await clientDatagrams({ user: 'app', token: 'x' }, [['orders', 'one'], ['orders', { two: 2 }]])
  const d = decodeDatagram(signed!)
  t.ok(d.ok)
  if (!d.ok) return
  t.equal(d.datagram.topic, 'orders')
  t.equal(d.datagram.user, 'app')
  t.equal(d.datagram.count, 2)
  t.equal(d.datagram.mac?.length, 32)
  const records = decodeRecords(d.datagram.records, d.datagram.count)
  t.same(records.map((r) => [r.key, r.headers.unit]), [['k1', 'C'], ['k1', 'C']])
  t.equal(records[0]!.payload.toString(), 'one')
  const [plain] = await clientDatagrams({}, [['orders', 'one']])
  t.same(plain, buildDatagram({ topic: 'orders', records: [{ key: 'k1', headers: { unit: 'C', 'content-type': 'text/plain; charset=utf-8' }, payload: Buffer.from('one') }] }), 'byte for byte what PROTOCOL.md describes')
})

t.test('with auth: only datagrams signed with the sender\'s token are taken', async (t) => {
  const { port, stored, counts } = await ingest(t, true)
  const sender = await rawSender()
  t.teardown(() => sender.close())
  const [good] = await clientDatagrams({ user: 'app', token: TOKENS.get('app')! }, [['orders', 'reading']])
  const [wrongToken] = await clientDatagrams({ user: 'app', token: 'guess' }, [['orders', 'reading']])
  const [unsigned] = await clientDatagrams({}, [['orders', 'reading']])
  const [unknownUser] = await clientDatagrams({ user: 'mallory', token: 'whatever' }, [['orders', 'reading']])
  const [forbidden] = await clientDatagrams({ user: 'readonly', token: TOKENS.get('readonly')! }, [['orders', 'reading']])
  const [allowed] = await clientDatagrams({ user: 'readonly', token: TOKENS.get('readonly')! }, [['public.temps', 'reading']])
  const tampered = Buffer.from(good!)
  tampered[tampered.length - 40]! ^= 0x01 // a payload byte, under the HMAC
  const macCut = good!.subarray(0, good!.length - 1)

  for (const d of [good!, wrongToken!, unsigned!, unknownUser!, forbidden!, allowed!, tampered, macCut]) await sender.send(port, d)
  await until('all counted', () => stored.length >= 2)
  let s = await counts()
  for (let i = 0; i < 100 && sum(s, 'skiff_udp_datagrams_total') < 8; i++) {
    await new Promise((r) => setTimeout(r, 20))
    s = await counts()
  }
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'accepted' }), 2, 'the good one and the allowed one')
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'unauthorized' }), 4, 'wrong token, unsigned, unknown user, tampered')
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'truncated' }), 1, 'a cut datagram loses its last record\'s bytes to the MAC')
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'forbidden' }), 1, 'a user outside its topics')
  t.same(stored.map((d) => [d.topic, d.user]), [['orders', 'app'], ['public.temps', 'readonly']])
  t.equal(sender.answers.length, 0, 'no answers')
})

t.test('without auth: unsigned and signed datagrams alike are taken', async (t) => {
  const { udp, stored, counts } = await ingest(t, false)
  udp.receive(buildDatagram({ topic: 'orders', records: [{ payload: Buffer.from('a') }] }))
  udp.receive(buildDatagram({ topic: 'orders', records: [{ payload: Buffer.from('b') }], user: 'app', token: 'wrong' }))
  t.equal(stored.length, 2)
  t.equal(value(await counts(), 'skiff_udp_datagrams_total', { result: 'accepted' }), 2)
})

t.test('any bytes at all: never a throw, always exactly one count', async (t) => {
  const { udp, counts } = await ingest(t, true)
  const valid = buildDatagram({ topic: 'orders', records: [{ key: 'k', payload: Buffer.from('v') }], user: 'app', token: TOKENS.get('app')! })
  let n = 0
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 1100 }),
        // Mutations of a valid datagram reach deeper than random bytes.
        fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const b = Buffer.from(valid)
          b[i] = b[i]! ^ x
          return b
        }),
        fc.nat(valid.length).map((len) => valid.subarray(0, len)),
      ),
      (bytes) => {
        udp.receive(Buffer.from(bytes))
        n++
      },
    ),
    { numRuns: 2000 },
  )
  t.equal(sum(await counts(), 'skiff_udp_datagrams_total'), n, 'one result per datagram')
})
