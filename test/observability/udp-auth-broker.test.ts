/**
 * UDP telemetry through a broker with an auth file: datagrams signed with a
 * user's token reach consumers; unsigned, wrongly signed and unknown-user
 * datagrams are `unauthorized`, a topic outside the user's publish patterns is
 * `forbidden`; none of them is stored.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { Reader, startTestBroker } from '../e2e/helpers.js'
import { telemetry } from '../../clients/index.js'
import { scrapeUntil, value } from './scrape.js'

const SENSOR_TOKEN = 'sensor-token-0123456789'
const READER_TOKEN = 'reader-token-0123456789'

t.test('with an auth file, only signed datagrams of a permitted user are stored', async (t) => {
  const dir = t.testdir({})
  const authFile = path.join(dir, 'users.json')
  fs.writeFileSync(
    authFile,
    JSON.stringify({
      users: [
        { name: 'sensor', token: SENSOR_TOKEN, publish: ['sensors.>'] },
        { name: 'reader', token: READER_TOKEN, subscribe: ['sensors.>'], admin: true },
      ],
    }),
  )
  const tb = await startTestBroker(t, 2, { authFile })
  const client = await tb.client({ token: READER_TOKEN })
  await client.admin.createTopic('sensors.temp')
  const reader = new Reader(await client.subscribe('sensors.temp', { group: 'dash', from: 'earliest' }))
  const url = `udp://127.0.0.1:${tb.broker.udpPort}`

  const send = async (opts: { user?: string; token?: string }, topic: string, payload: string) => {
    const s = telemetry(url, opts)
    s.send(topic, payload)
    await s.close()
  }
  await send({ user: 'sensor', token: SENSOR_TOKEN }, 'sensors.temp', 'signed')
  await send({}, 'sensors.temp', 'unsigned')
  await send({ user: 'sensor', token: 'sensor-token-guessed-wrong' }, 'sensors.temp', 'wrong token')
  await send({ user: 'nobody', token: SENSOR_TOKEN }, 'sensors.temp', 'unknown user')
  await send({ user: 'reader', token: READER_TOKEN }, 'sensors.temp', 'no publish permission')
  await send({ user: 'sensor', token: SENSOR_TOKEN }, 'other', 'outside the patterns')

  const s = await scrapeUntil(tb.broker.httpPort, [
    ['skiff_udp_datagrams_total', { result: 'accepted' }, 1],
    ['skiff_udp_datagrams_total', { result: 'unauthorized' }, 3],
    ['skiff_udp_datagrams_total', { result: 'forbidden' }, 2],
  ])
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'accepted' }), 1, 'the signed one')
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'unauthorized' }), 3, 'unsigned, wrong token, unknown user')
  t.equal(value(s, 'skiff_udp_datagrams_total', { result: 'forbidden' }), 2, 'a user without publish rights; a topic outside the patterns')
  const [m] = await reader.take(1)
  t.equal(m!.decode(), 'signed')
  m!.ack()
  t.equal(await reader.next(300), undefined, 'nothing else was stored')
  // The worker's counts reach the gateway in its own message, after the datagram counters: scrape again.
  const after = await scrapeUntil(tb.broker.httpPort, [['skiff_messages_published_total', { topic: 'sensors.temp' }, 1]])
  t.equal(value(after, 'skiff_messages_published_total', { topic: 'sensors.temp' }), 1, 'one message stored')
})
