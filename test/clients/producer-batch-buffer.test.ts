/**
 * The producer writes each record straight into its batch's buffer, keeps
 * its calls in one ordered queue and frames a batch where its records lie.
 * Seen from the wire (a stand-in peer records every frame): a payload buffer
 * the caller reuses after publish() returns does not change what was sent,
 * batches that grow past their first buffer and split at the frame limit
 * carry every record intact and in order, records whose caller gave up
 * before their batch was written are cut out of it, and flush() waits for
 * exactly the calls made before it even when they settle out of order.
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { Op, decodeRecords } from '../../protocol/index.js'
import { startHoldingStandIn, startStandIn, turn, waitFor, type SeenFrame } from './stand-in.js'
import { OpenBatches } from '../../clients/open-batches.js'

const FAST = { initialDelayMs: 5, maxDelayMs: 20 }
const publishes = (frames: SeenFrame[]) => frames.filter((f) => f.opcode === Op.PUBLISH).map((f) => f.body)
const payloadsOf = (frames: SeenFrame[]) => publishes(frames).flatMap((b) => decodeRecords(b.records, b.count).map((r) => r.payload.toString()))

t.test('a payload buffer reused right after publish() does not change what was sent', async (t) => {
  const { peer, held } = await startHoldingStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer({ maxInFlight: 2 })
  const buf = Buffer.alloc(4)
  const all: Promise<unknown>[] = []
  // Two go into the open batch at once, three wait for a slot; the buffer is overwritten after every call.
  for (let i = 0; i < 5; i++) {
    buf.write(`m${i}..`, 'latin1')
    all.push(producer.publish('t', buf))
  }
  buf.fill(0x7a)
  for (let round = 0; round < 3; round++) {
    await waitFor(`batch ${round + 1}`, () => held.length > 0)
    held.shift()!()
  }
  await Promise.all(all)
  t.same(payloadsOf(peer.frames), ['m0..', 'm1..', 'm2..', 'm3..', 'm4..'])
})

t.test('batches that outgrow their first buffer, and split at the frame limit, carry every record intact and in order', async (t) => {
  const peer = await startStandIn({ welcome: { maxFrame: 8192 } })
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer({ maxInFlight: 1000 })
  const limit = 8192 - 512 // records per frame under this maxFrame (the client's PUBLISH overhead)
  const sizes = [1, 3000, 50, 4000, limit - 10 - 2 - 7, 0, 7, 2500, 2500, 2500, 12]
  const sent = sizes.map((n, i) => `${i}:`.padEnd(Math.max(n, 3), String.fromCharCode(97 + i)))
  const all = sent.map((s, i) => producer.publish('t', Buffer.from(s), { key: `k${i}`, headers: { n: String(i) } }))
  await t.rejects(producer.publish('t', Buffer.alloc(limit - 10 + 1)), { codeName: 'FRAME_TOO_LARGE' }, 'a record past the limit is refused')
  await Promise.all(all)
  const frames = publishes(peer.frames)
  t.ok(frames.length > 1, 'split into several frames')
  for (const f of frames) t.ok(f.records.length <= limit, `a frame of ${f.records.length} record bytes`)
  const records = frames.flatMap((b) => decodeRecords(b.records, b.count))
  t.same(records.map((r) => r.payload.toString()), sent)
  t.same(records.map((r) => r.key), sent.map((_, i) => `k${i}`))
  t.same(records.map((r) => r.headers.n), sent.map((_, i) => String(i)))
  // A small batch right after big ones is still right.
  t.same(await producer.publish('t', 'last'), { partition: 0, offset: sizes.length })
  t.equal(payloadsOf(peer.frames).at(-1), 'last')
})

t.test('records whose caller gave up before their batch was written are cut out of it', async (t) => {
  // Timeline (requestTimeoutMs 2000): x1, x2 go out and are never confirmed;
  // y1 (t=200) and y2 (t=1200) wait for a slot. The connection drops; at
  // t=2000 x1 and x2 time out, so y1 and y2 are admitted into one batch that
  // cannot be written (no broker). y1 times out at t=2200; the broker is back
  // after that (t=2400), well before y2's deadline (t=3200), so the batch goes
  // out with y2 alone.
  const first = await startStandIn({ onFrame: (p, f) => f.opcode !== Op.PUBLISH && p.reply(f) })
  const port = first.port
  const client = await connect(first.url, { reconnect: FAST, requestTimeoutMs: 2000 })
  t.teardown(() => client.close())
  const producer = client.producer({ maxInFlight: 2 })
  const start = Date.now()
  const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, start + ms - Date.now())))
  const x = [producer.publish('t', 'x1'), producer.publish('t', 'x2')]
  x.forEach((p) => p.catch(() => {}))
  await waitFor('x on the wire', () => publishes(first.frames).length === 1)
  await at(200)
  const y1 = producer.publish('t', 'y1')
  y1.catch(() => {})
  await first.close()
  await at(1200)
  const y2 = producer.publish('t', 'y2')
  await t.rejects(x[0]!, { codeName: 'TIMEOUT' })
  await t.rejects(y1, { codeName: 'TIMEOUT' })
  await at(2400)
  const second = await startStandIn({ port })
  t.teardown(second.close)
  t.same(await y2, { partition: 0, offset: 0 })
  const frames = publishes(second.frames)
  t.same(frames.map((b) => [b.count, decodeRecords(b.records, b.count).map((r) => r.payload.toString())]), [[1, ['y2']]], 'only y2 went out')
  t.match(producer.stats, { confirmed: 1, failed: 3 })
  t.equal(producer.unconfirmed, 0)
})

t.test('flush() waits for exactly the calls made before it, when they settle out of order', async (t) => {
  const { peer, held } = await startHoldingStandIn((f) => f.body.topic === 'slow')
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const producer = client.producer({ maxInFlight: 5000 })
  const slow = producer.publish('slow', 'held')
  // Enough settled calls behind the one unsettled call to make the call queue compact itself.
  const fast = Array.from({ length: 3000 }, (_, i) => producer.publish('fast', String(i)))
  await Promise.all(fast)
  let flushed = false
  const flushing = producer.flush().then(() => (flushed = true))
  const later = Array.from({ length: 1500 }, (_, i) => producer.publish('fast', `later ${i}`))
  await Promise.all(later)
  for (let i = 0; i < 5; i++) await turn()
  t.equal(flushed, false, 'the slow publish made before flush() is not confirmed yet')
  t.equal(producer.unconfirmed, 1)
  await waitFor('the slow batch', () => held.length === 1)
  held.shift()!()
  await flushing
  t.same(await slow, { partition: 0, offset: 4500 }, 'confirmed last')
  t.equal(producer.unconfirmed, 0)
  let again = false
  await producer.flush().then(() => (again = true))
  t.ok(again, 'a flush with nothing pending resolves')
  t.match(producer.stats, { confirmed: 4501, failed: 0 })
})

t.test("a confirmed batch's buffer is reused, and every frame still carries its own records, re-sends after a lost connection included", async (t) => {
  const { peer, held } = await startHoldingStandIn()
  t.teardown(peer.close)
  const client = await connect(peer.url, { reconnect: FAST })
  t.teardown(() => client.close())
  const producer = client.producer({ maxInFlight: 1000 })
  // 64 KiB records, three to a batch: every byte says which record it belongs to.
  const record = (i: number) => Buffer.alloc(64 * 1024, i)
  const publish = (from: number, n: number) => Array.from({ length: n }, (_, k) => producer.publish('t', record(from + k)))
  const first = publish(0, 30)
  await waitFor('10 batches', () => held.length === 10)
  for (const confirm of held.splice(0, 5)) confirm()
  await Promise.all(first.slice(0, 15))
  // These fill the buffers of the five confirmed batches (as the outbox reuses them), and are in flight with five
  // older batches when the connection drops: all ten are sent again on the next one, from their own buffers.
  const second = publish(30, 15)
  await waitFor('15 batches', () => publishes(peer.frames).length === 15)
  peer.peers[0]!.socket.destroy()
  await waitFor('the ten unconfirmed batches again', () => peer.peers.length === 2 && publishes(peer.peers[1]!.frames).length === 10)
  for (const confirm of held.splice(0)) confirm()
  const results = await Promise.all([...first, ...second])
  t.equal(results.length, 45, 'every publish confirmed')
  const bySequence = new Map<number, number[]>()
  for (const body of publishes(peer.frames)) {
    const tags = decodeRecords(body.records, body.count).map((r) => {
      const tag = r.payload[0]!
      if (r.payload.length !== 64 * 1024 || r.payload.some((b) => b !== tag)) throw new Error(`sequence ${body.sequence}: a record of mixed bytes`)
      return tag
    })
    const before = bySequence.get(body.sequence)
    if (before) t.same(tags, before, `sequence ${body.sequence} sent again with the same records`)
    else bySequence.set(body.sequence, tags)
  }
  t.same([...bySequence.values()].flat(), Array.from({ length: 45 }, (_, i) => i), 'the 45 records, each once, in order')
})

t.test('kept buffers: the next batch that fits takes one; small outgrown ones never crowd out the large ones', async (t) => {
  const open = new OpenBatches()
  const big = Buffer.allocUnsafe(300 * 1024)
  // More small buffers than are kept, then one large: the large one takes a small one's place.
  for (let i = 0; i < 40; i++) open.recycle(Buffer.allocUnsafe(1024))
  open.recycle(big)
  const batch = open.open('t', undefined, true, 200 * 1024, 256 * 1024)
  t.equal(batch.buf, big, 'a batch of 200 KiB takes the kept 300 KiB buffer')
  const next = open.open('u', undefined, true, 200 * 1024, 256 * 1024)
  t.not(next.buf, big, 'a buffer is handed out once')
  t.ok(next.buf.length >= 200 * 1024, 'and a new one is made when none kept fits')
})
