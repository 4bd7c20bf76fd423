/**
 * The telemetry datagram examples in PROTOCOL.md are right: their bytes decode
 * to what the text says, the signed one verifies under its token, and the
 * client sends exactly those bytes.
 */
import t from 'tap'
import fs from 'node:fs'
import { decodeRecords } from '../../protocol/index.js'
import { decodeDatagram } from '../../broker/gateway/udp/datagram.js'
import { checkDatagramAuth } from '../../broker/gateway/udp/auth.js'
import { telemetry } from '../../clients/index.js'
import { listenUdp, until } from './udp-helpers.js'

const spec = fs.readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8')
const section = spec.slice(spec.indexOf('## Telemetry datagrams'), spec.indexOf('## Errors'))
const blocks = [...section.matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1]!)

/** The bytes of an example block: on each line, the leading run of two-digit hex tokens (annotations follow). */
function hexOf(block: string): Buffer {
  const tokens: string[] = []
  for (const line of block.split('\n')) {
    for (const w of line.trim().split(/\s+/)) {
      if (!/^[0-9a-f]{2}$/.test(w)) break
      tokens.push(w)
    }
  }
  return Buffer.from(tokens.join(''), 'hex')
}

t.test('the unsigned example', async (t) => {
  const bytes = hexOf(blocks[1]!)
  const d = decodeDatagram(bytes)
  t.ok(d.ok)
  if (!d.ok) return
  t.equal(d.datagram.topic, 'sensors')
  t.equal(d.datagram.user, undefined)
  const [rec] = decodeRecords(d.datagram.records, d.datagram.count)
  t.equal(rec!.key, 'room-4')
  t.equal(rec!.payload.toString(), '21.5')

  const listener = await listenUdp()
  t.teardown(() => listener.close())
  const sender = telemetry(`udp://127.0.0.1:${listener.port}`)
  sender.send('sensors', Buffer.from('21.5'), { key: 'room-4' })
  await sender.close()
  await until('the datagram', () => listener.received.length === 1)
  t.same(listener.received[0], bytes, 'the client sends these bytes')
})

t.test('the signed example', async (t) => {
  const bytes = hexOf(blocks[2]!)
  const d = decodeDatagram(bytes)
  t.ok(d.ok)
  if (!d.ok) return
  t.equal(d.datagram.user, 'app')
  t.equal(checkDatagramAuth(d.datagram, { tokenOf: (u) => (u === 'app' ? 's3cret' : undefined) }), 'ok', 'verifies under s3cret')
  t.equal(checkDatagramAuth(d.datagram, { tokenOf: () => 'other' }), 'unauthorized')

  const listener = await listenUdp()
  t.teardown(() => listener.close())
  const sender = telemetry(`udp://127.0.0.1:${listener.port}`, { user: 'app', token: 's3cret' })
  sender.send('sensors', Buffer.from('21.5'), { key: 'room-4' })
  await sender.close()
  await until('the datagram', () => listener.received.length === 1)
  t.same(listener.received[0], bytes, 'the client signs the same way')
})
