/**
 * A DELIVER for a subscription the client does not have (one the broker made
 * after the client gave up waiting for it) is answered with one UNSUBSCRIBE,
 * so the broker stops holding records there; a subscription the client has
 * gets its messages as before. The broker's side of it (what the stray held
 * goes to the group's other member at once) is in
 * test/e2e/stray-subscription.test.ts.
 */
import t from 'tap'
import { connect, type Message } from '../../clients/index.js'
import { Op, encodeDeliver, encodeRecord } from '../../protocol/index.js'
import { MAX_PER_CONNECTION } from '../../clients/stray-subscriptions.js'
import { startStandIn, waitFor, type SeenFrame } from './stand-in.js'

const deliver = (sub: number, offset: number) => encodeDeliver({ sub, messages: [[0, offset, 1700000000000, 1, encodeRecord({ payload: Buffer.from(`m${offset}`) })]] })
const unsubscribes = (frames: SeenFrame[]) => frames.filter((f) => f.opcode === Op.UNSUBSCRIBE).map((f) => f.body.sub as number)

t.test('a DELIVER for an unknown subscription is answered with one UNSUBSCRIBE; a known one is delivered', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url, { name: 'strays' })
  t.teardown(() => client.close())
  const got: string[] = []
  const consumer = await client.subscribe('orders', { group: 'g' }, (m: Message) => {
    got.push(m.payload.toString())
    m.ack()
  })
  const known = peer.frames.find((f) => f.opcode === Op.SUBSCRIBE)!.body.sub as number
  const stray = known + 100
  const p = peer.peers[0]!
  p.send(deliver(stray, 1))
  p.send(deliver(stray, 2))
  p.send(deliver(known, 3))
  p.send(deliver(stray + 1, 4))
  await waitFor('the known message and two UNSUBSCRIBEs', () => got.length === 1 && unsubscribes(peer.frames).length === 2)
  // The stand-in answers frames in order: a round trip after these shows nothing more was sent for them.
  await client.admin.listTopics()
  t.same(unsubscribes(peer.frames), [stray, stray + 1], 'one UNSUBSCRIBE per stray subscription, however many frames it got')
  t.same(got, ['m3'], 'the subscription the client has gets its message')
  await consumer.close()
  t.same(unsubscribes(peer.frames), [stray, stray + 1, known], 'closing the real one unsubscribes it as before')
})

t.test('strays released per connection are bounded', async (t) => {
  const peer = await startStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url, { name: 'strays' })
  t.teardown(() => client.close())
  const p = peer.peers[0]!
  for (let sub = 1; sub <= MAX_PER_CONNECTION + 50; sub++) p.send(deliver(sub, sub))
  await waitFor('the UNSUBSCRIBEs', () => unsubscribes(peer.frames).length >= MAX_PER_CONNECTION)
  await client.admin.listTopics()
  t.equal(unsubscribes(peer.frames).length, MAX_PER_CONNECTION, `at most ${MAX_PER_CONNECTION} per connection`)
})
