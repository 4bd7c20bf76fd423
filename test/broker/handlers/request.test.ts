/**
 * SERVE, UNSERVE, REQUEST and REPLY, driven in-process: a request reaches the
 * connection serving its topic and the reply comes back to the requester
 * under its own corr; the refusals are ERROR frames (nobody serving, a bad
 * topic name, a user without the permission the handler checks).
 */
import t from 'tap'
import { Op, decodeOk, decodeReply, decodeRequest, encodeRecord, encodeReply, encodeRequest, encodeServe } from '../../../protocol/index.js'
import { errorOf, testGateway } from './harness.js'

const APP = 'app-token-0123456789abcdef'
const record = (payload: string) => encodeRecord({ payload: Buffer.from(payload) })

t.test('a request goes to the server and its reply back to the requester', async (t) => {
  const gw = await testGateway(t)
  const server = await gw.login()
  const client = await gw.login()
  const served = await server.exchange(encodeServe(Op.SERVE, { corr: 1, topic: 'prices' }))
  t.same(decodeOk(served.body), { corr: 1 }, 'SERVE is answered OK')
  t.ok(server.served.has('prices'), 'the connection serves the topic')

  const from = server.frames.length
  client.receive(encodeRequest({ corr: 7, topic: 'prices', record: record('what is the price?'), timeoutMs: 5000 }))
  const asked = await server.next(from)
  t.equal(asked?.opcode, Op.REQUEST, 'the server is sent the REQUEST')
  const req = decodeRequest(asked!.body)
  t.equal(req.topic, 'prices')
  t.same(req.record, record('what is the price?'), 'carrying the record as sent')

  const answered = client.frames.length
  server.receive(encodeReply({ corr: req.corr, record: record('42') }))
  const reply = await client.next(answered)
  t.equal(reply?.opcode, Op.REPLY, 'the requester gets the REPLY')
  t.same(decodeReply(reply!.body), { corr: 7, record: record('42') }, 'under its own corr')

  const unserved = await server.exchange(encodeServe(Op.UNSERVE, { corr: 2, topic: 'prices' }))
  t.same(decodeOk(unserved.body), { corr: 2 }, 'UNSERVE is answered OK')
  const none = errorOf(await client.exchange(encodeRequest({ corr: 8, topic: 'prices', record: record('again?') })))
  t.match(none, { name: 'NO_RESPONDERS', corr: 8 }, 'with nobody serving, a request is NO_RESPONDERS')
})

t.test('bad requests', async (t) => {
  const gw = await testGateway(t)
  const c = await gw.login()
  t.match(errorOf(await c.exchange(encodeServe(Op.SERVE, { corr: 3, topic: 'no/slashes' }))), { name: 'INVALID_REQUEST', corr: 3 }, 'SERVE of a malformed topic name')
  t.match(errorOf(await c.exchange(encodeRequest({ corr: 4, topic: 'no/slashes', record: record('x') }))), { name: 'INVALID_REQUEST', corr: 4 }, 'REQUEST to a malformed topic name')
  t.match(errorOf(await c.exchange(encodeRequest({ corr: 5, topic: 'prices', record: Buffer.from([1, 2, 3]) }))), { name: 'INVALID_REQUEST', corr: 5 }, 'REQUEST with a record that is not a record')
  t.equal(c.served.size, 0)
  t.notOk(c.closed, 'none of them closes the connection')
})

t.test('serving needs subscribe permission and requesting needs publish permission', async (t) => {
  const gw = await testGateway(t, {
    users: [
      { name: 'reader', token: APP, subscribe: ['>'] },
      { name: 'writer', token: APP + 'w', publish: ['>'] },
    ],
  })
  const reader = await gw.login('reader', APP)
  const writer = await gw.login('writer', APP + 'w')
  t.match(errorOf(await writer.exchange(encodeServe(Op.SERVE, { corr: 1, topic: 'prices' }))), { name: 'FORBIDDEN', corr: 1 }, 'SERVE without subscribe permission')
  t.equal(writer.served.size, 0, 'serves nothing')
  t.match(errorOf(await reader.exchange(encodeRequest({ corr: 2, topic: 'prices', record: record('x') }))), { name: 'FORBIDDEN', corr: 2 }, 'REQUEST without publish permission')
  t.equal((await reader.exchange(encodeServe(Op.SERVE, { corr: 3, topic: 'prices' }))).opcode, Op.OK, 'the reader may serve')
  const from = reader.frames.length
  writer.receive(encodeRequest({ corr: 4, topic: 'prices', record: record('x') }))
  t.equal((await reader.next(from))?.opcode, Op.REQUEST, 'and the writer may request')
})
