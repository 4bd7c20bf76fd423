/**
 * The consumer's ACK frames, read raw off the wire: settlements go out as
 * `ranges` (runs of consecutive offsets per partition, no per-message
 * arrays), expand to exactly the messages settled, per kind and in order,
 * and are split to respect the broker's maxFrame and MAX_ACKS_PER_FRAME.
 */
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, type Consumer, type Message } from '../../clients/index.js'
import { FrameDecoder, MAX_ACKS_PER_FRAME, Op, decodeAck, encodeDeliver, encodeRecord, readAck, type Ack, type Delivery } from '../../protocol/index.js'
import { startStandIn, waitFor, type StandIn } from './stand-in.js'

const record = encodeRecord({ payload: Buffer.from('x') })

/** A stand-in that answers SUBSCRIBE with `deliveries` (`perFrame` to a DELIVER), plus every ACK frame the client sent, raw. */
async function standIn(deliveries: Delivery[], maxFrame = 1024 * 1024, perFrame = deliveries.length): Promise<{ peer: StandIn; acks: { ack: Ack; bytes: number; body: Buffer }[] }> {
  const acks: { ack: Ack; bytes: number; body: Buffer }[] = []
  const peer = await startStandIn({
    welcome: { maxFrame },
    onFrame: (p, f) => {
      p.reply(f)
      if (f.opcode !== Op.SUBSCRIBE) return
      if (p.frames.length === 2) {
        // Watch this connection's bytes with a decoder of our own (the stand-in's decodes ACKs for us).
        const raw = new FrameDecoder(64 * 1024 * 1024)
        p.socket.on('data', (chunk: Buffer) => {
          raw.push(chunk)
          for (let fr = raw.next(); fr; fr = raw.next()) {
            if (fr.opcode === Op.ACK) acks.push({ ack: readAck(fr.body), bytes: fr.body.length + 1, body: Buffer.from(fr.body) })
          }
        })
      }
      for (let i = 0; i < deliveries.length; i += perFrame) p.send(encodeDeliver({ sub: f.body.sub, messages: deliveries.slice(i, i + perFrame) }))
    },
  })
  return { peer, acks }
}

/** Take `n` messages without settling them or closing the consumer; gives up (bounded) after 10 s. */
async function read(consumer: Consumer, n: number): Promise<Message[]> {
  const got: Message[] = []
  const deadline = Date.now() + 10_000
  while (got.length < n && Date.now() < deadline) {
    const r = await Promise.race([consumer.next(), sleep(deadline - Date.now()).then(() => undefined)])
    if (!r || r.done) break
    got.push(r.value)
  }
  return got
}

const expand = (acks: { body: Buffer }[], kind: string) =>
  acks.flatMap(({ body }) => {
    const a = decodeAck(body)
    return a.kind === kind ? a.offsets.map((o, i) => `${a.partitions[i]}:${o}`) : []
  })

t.test('in-order acks go out as one range per run; nack, progress and term as ranges of their own', async (t) => {
  // Partition 0 offsets 0..299, partition 1 offsets 1000..1099, interleaved in runs of 50.
  const deliveries: Delivery[] = []
  for (let run = 0; run < 6; run++) for (let i = 0; i < 50; i++) deliveries.push([0, run * 50 + i, 1, 1, record])
  for (let i = 0; i < 100; i++) deliveries.splice(50 + (i < 50 ? 0 : 100) + i, 0, [1, 1000 + i, 1, 1, record])
  const { peer, acks } = await standIn(deliveries)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const consumer = await client.subscribe('t', { group: 'g', maxInFlight: 1000 })
  const want: Record<string, string[]> = { ack: [], nack: [], progress: [], term: [] }
  for (const msg of await read(consumer, deliveries.length)) {
    const id = `${msg.partition}:${msg.offset}`
    if (msg.offset === 7) {
      msg.nack()
      want.nack!.push(id)
    } else if (msg.offset === 8) {
      msg.inProgress()
      want.progress!.push(id)
      msg.term()
      want.term!.push(id)
    } else {
      msg.ack()
      want.ack!.push(id)
    }
  }
  await waitFor('every settlement', () => Object.keys(want).every((k) => expand(acks, k).length === want[k]!.length))
  for (const kind of Object.keys(want)) t.same(expand(acks, kind), want[kind], `${kind}: exactly the messages settled, in order`)
  for (const { ack } of acks) {
    t.equal(ack.partitions, undefined, 'no per-message partitions')
    t.equal(ack.offsets, undefined, 'no per-message offsets')
  }
  const ackRanges = acks.filter((a) => a.ack.kind === 'ack').flatMap((a) => a.ack.ranges!)
  // Runs: p0 0-6, p0 9-49, p1 1000-1049, p0 50-149, p1 1050-1099, p0 150-299: six triples.
  t.equal(ackRanges.length / 3, 6, `six ranges for 398 acks (${JSON.stringify(ackRanges)})`)
})

t.test('ACK frames are split to stay within maxFrame', async (t) => {
  // Every other offset: nothing to merge, one range per message.
  const deliveries: Delivery[] = Array.from({ length: 200 }, (_, i) => [0, 2 ** 33 + 2 * i, 1, 1, record])
  const maxFrame = 256
  const { peer, acks } = await standIn(deliveries, maxFrame, 4)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const consumer = await client.subscribe('t', { group: 'g', maxInFlight: 1000 })
  for (const m of await read(consumer, deliveries.length)) m.ack()
  await waitFor('every ack', () => expand(acks, 'ack').length === deliveries.length)
  t.same(expand(acks, 'ack'), deliveries.map((d) => `0:${d[1]}`))
  t.ok(acks.length > 1, `split into ${acks.length} frames`)
  for (const a of acks) t.ok(a.bytes <= maxFrame, `a frame of ${a.bytes} bytes is within ${maxFrame}`)
})

/** A window of `n` messages, all taken from one DELIVER frame and acked in one turn: the ranges of each ACK frame sent. */
async function acksForWindowSettledInOneTurn(t: Test, n: number): Promise<number[][]> {
  const deliveries: Delivery[] = Array.from({ length: n }, (_, i) => [0, i, 1, 1, record])
  const { peer, acks } = await standIn(deliveries)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  const consumer = await client.subscribe('t', { group: 'g', maxInFlight: n })
  for (const m of await read(consumer, n)) m.ack()
  await waitFor('every ack', () => expand(acks, 'ack').length === n)
  return acks.map((a) => a.ack.ranges!)
}

t.test('a large window gives credits back at half of it: a turn that settles the whole window sends two ACK frames', async (t) => {
  t.same(
    await acksForWindowSettledInOneTurn(t, 4000),
    [
      [0, 0, 2000],
      [0, 2000, 2000],
    ],
    'the first half went out as soon as it was settled',
  )
})

t.test('a small window settled in one turn: one ACK frame at the end of the turn', async (t) => {
  t.same(await acksForWindowSettledInOneTurn(t, 1000), [[0, 0, 1000]])
})

t.test(`the largest window: ACK frames of half of it, never more than ${MAX_ACKS_PER_FRAME} messages`, async (t) => {
  const total = MAX_ACKS_PER_FRAME + 1
  const deliveries: Delivery[] = Array.from({ length: total }, (_, i) => [0, i, 1, 1, record])
  const { peer, acks } = await standIn(deliveries, 8 * 1024 * 1024)
  t.teardown(peer.close)
  const client = await connect(peer.url)
  t.teardown(() => client.close())
  // The stand-in does not count credits: it sends them all to a consumer allowed the most there is.
  const consumer = await client.subscribe('t', { group: 'g', maxInFlight: MAX_ACKS_PER_FRAME })
  for (const m of await read(consumer, total)) m.ack()
  await waitFor('every ack', () => acks.reduce((n, a) => n + decodeAck(a.body).offsets.length, 0) === total, 10_000)
  const half = MAX_ACKS_PER_FRAME / 2
  t.same(
    acks.map((a) => a.ack.ranges),
    [
      [0, 0, half],
      [0, half, half],
      [0, MAX_ACKS_PER_FRAME, 1],
    ],
  )
})
