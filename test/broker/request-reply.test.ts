/** Request/reply through the gateway, spoken with raw frames. */
import t from 'tap'
import { Op, encodeServe, encodeRequest, encodeReply, decodeRequest, decodeReply, decodeError, encodeRecord, decodeRecord } from '../../protocol/index.js'
import { RawPeer, testBroker } from './raw-peer.js'

const rec = (s: string) => encodeRecord({ payload: Buffer.from(s) })

async function serve(port: number, topic: string): Promise<RawPeer> {
  const p = await RawPeer.ready(port)
  p.write(encodeServe(Op.SERVE, { corr: 1, topic }))
  await p.waitFor((f) => f.opcode === Op.OK)
  return p
}

/** Answer every REQUEST that arrives with "<name>:<payload>". */
function answer(server: RawPeer, name: string): void {
  server.socket.on('data', () => {
    for (const f of server.frames.splice(0)) {
      if (f.opcode !== Op.REQUEST) continue
      const r = decodeRequest(f.body)
      server.write(encodeReply({ corr: r.corr, record: rec(`${name}:${decodeRecord(r.record).payload}`) }))
    }
  })
}

t.test('requests reach a server and replies come back', async (t) => {
  const broker = await testBroker(t)
  const a = await serve(broker.port, 'greet')
  const b = await serve(broker.port, 'greet')
  answer(a, 'a')
  answer(b, 'b')
  const client = await RawPeer.ready(broker.port)
  for (let i = 0; i < 4; i++) client.write(encodeRequest({ corr: 10 + i, topic: 'greet', record: rec(`n${i}`), timeoutMs: 2000 }))
  const deadline = Date.now() + 3000
  while (client.frames.filter((f) => f.opcode === Op.REPLY).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  const replies = client.frames.filter((f) => f.opcode === Op.REPLY).map((f) => decodeReply(f.body))
  const byCorr = Object.fromEntries(replies.map((r) => [r.corr, decodeRecord(r.record!).payload.toString()]))
  t.same(Object.keys(byCorr).sort(), ['10', '11', '12', '13'], 'every request answered with its corr')
  for (let i = 0; i < 4; i++) t.match(byCorr[10 + i], new RegExp(`^[ab]:n${i}$`), 'the reply answers that request')
  const servers = new Set(Object.values(byCorr).map((v) => v!.split(':')[0]))
  t.same([...servers].sort(), ['a', 'b'], 'servers take requests in turn')

  client.write(encodeRequest({ corr: 20, topic: 'nobody', record: rec('x') }))
  const err = await client.waitFor((f) => f.opcode === Op.ERROR)
  t.same({ corr: decodeError(err!.body).corr, name: decodeError(err!.body).name }, { corr: 20, name: 'NO_RESPONDERS' })
  a.end()
  b.end()
  client.end()
})

t.test('a server that disconnects before replying fails the request', async (t) => {
  const broker = await testBroker(t)
  const silent = await serve(broker.port, 'slow')
  const client = await RawPeer.ready(broker.port)
  client.write(encodeRequest({ corr: 5, topic: 'slow', record: rec('x') }))
  t.ok(await silent.waitFor((f) => f.opcode === Op.REQUEST), 'the server got the request')
  silent.end()
  const err = await client.waitFor((f) => f.opcode === Op.ERROR)
  t.equal(decodeError(err!.body).name, 'NO_RESPONDERS')
  t.equal(decodeError(err!.body).corr, 5)
  t.notOk(client.closed, 'the requester stays connected')
  client.end()
})
