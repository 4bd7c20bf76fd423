import t from 'tap'
import type { Message } from '../../clients/index.js'
import { ownerOf } from '../../broker/routing.js'
import { workerShares } from '../../broker/gateway/handlers/subscribe.js'
import { WORKER_COUNTS, Reader, publishAll, startTestBroker } from './helpers.js'

/** Every message that arrives until none has for `quietMs`. */
async function drain(reader: Reader, quietMs = 300): Promise<Message[]> {
  const out: Message[] = []
  for (let m = await reader.next(quietMs); m; m = await reader.next(quietMs)) out.push(m)
  return out
}

const PARTITIONS = 6
const WINDOW = 12

for (const workers of WORKER_COUNTS) {
  t.test(`workers=${workers}: a subscription's window is shared by its partitions on a worker`, async (t) => {
    const tb = await startTestBroker(t, workers)
    const client = await tb.client()
    await client.admin.createTopic('wide', { partitions: PARTITIONS })

    // 40 records with one key: all on one partition, the others empty.
    const sent = await publishAll(client, 'wide', Array.from({ length: 40 }, (_, i) => ({ i })), () => 'one-key')
    const busy = sent[0]!.partition
    t.ok(sent.every((r) => r.partition === busy), 'one partition holds them all')
    const owner = (p: number) => ownerOf('wide', p, workers)
    const share = workerShares(WINDOW, [...Array(PARTITIONS).keys()], owner).get(owner(busy))!
    if (workers === 1) t.equal(share, WINDOW, 'one worker: its share is the whole window')

    const reader = new Reader(await client.subscribe('wide', { group: 'g', from: 'earliest', maxInFlight: WINDOW }))
    const first = await drain(reader)
    // Split per partition, the busy one had ceil(12 / 6) = 2 in flight while five partitions had nothing to send.
    t.equal(first.length, share, `the busy partition fills its worker's share of the window (${share}), not a sixth of it`)
    t.same(first.map((m) => (m.decode() as { i: number }).i), [...Array(share).keys()], 'in order')
    for (const m of first) m.ack()
    const rest: Message[] = []
    while (first.length + rest.length < 40) {
      const more = await reader.take(Math.min(share, 40 - first.length - rest.length))
      for (const m of more) m.ack()
      rest.push(...more)
    }
    t.equal(first.length + rest.length, 40, 'acks give the credits back: every record arrives')
    t.equal(await reader.next(200), undefined, 'and nothing more')
    await reader.consumer.close()

    // Records on every partition: what is in flight stays within the window (each worker's share rounded up).
    await publishAll(client, 'wide', Array.from({ length: 60 }, (_, i) => ({ i })), (i) => `k${i}`)
    const spread = new Reader(await client.subscribe('wide', { group: 'h', from: 'earliest', maxInFlight: WINDOW }))
    const held = await drain(spread)
    const bound = [...workerShares(WINDOW, [...Array(PARTITIONS).keys()], owner).values()].reduce((a, b) => a + b, 0)
    t.ok(bound <= WINDOW + workers - 1, `the shares add up to the window, plus at most one per extra worker (${bound})`)
    t.equal(held.length, bound, `unacked deliveries stop at the shares' sum (${bound})`)
    await spread.consumer.close()
  })
}

t.test('partitions sharing a window take turns: a busy partition does not keep another waiting', async (t) => {
  const tb = await startTestBroker(t, 1)
  const client = await tb.client()
  await client.admin.createTopic('pair', { partitions: 2 })
  // Two keys on different partitions, 60 records each.
  const probe = await publishAll(client, 'pair', Array.from({ length: 16 }, (_, i) => ({ probe: i })), (i) => `key-${i}`)
  const keyOn = new Map<number, string>()
  probe.forEach((r, i) => keyOn.set(r.partition, keyOn.get(r.partition) ?? `key-${i}`))
  t.equal(keyOn.size, 2, 'a key for each partition')
  for (const [, key] of keyOn) await publishAll(client, 'pair', Array.from({ length: 60 }, (_, i) => ({ i })), () => key)

  const reader = new Reader(await client.subscribe('pair', { group: 'g', from: 'earliest', maxInFlight: 4 }))
  const counts = [0, 0]
  for (let n = 0; n < 40; n++) {
    const [m] = await reader.take(1)
    counts[m!.partition]!++
    m!.ack()
  }
  t.ok(counts[0]! >= 10 && counts[1]! >= 10, `both partitions are served while both have records (${counts[0]} and ${counts[1]} of the first 40)`)
  await reader.consumer.close()
})
