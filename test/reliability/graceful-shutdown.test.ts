/**
 * Graceful shutdown under load: the broker (its own process) gets SIGTERM
 * while three producers publish with confirm and a consumer group acks.
 * Two producers do not reconnect; one does (the client's default).
 *
 * Pass: the broker exits 0 within its drain time; every publish of the
 * non-reconnecting producers settles (resolves, or rejects with a retriable
 * SHUTTING_DOWN / CONNECTION_CLOSED) instead of hanging; after a restart
 * every confirmed message is in the log at its offset, the reconnecting
 * producer's publishes all resolve, and the group goes on to deliver every
 * confirmed message.
 */
import t from 'tap'
import { connect, isSkiffError, type Client } from '../../clients/index.js'
import { BrokerRunner, sleep, tempDir, timeout, until } from './harness.js'
import { LedgerConsumer, LedgerProducer, readWholeTopic } from './reconnecting-clients.js'

const TOPIC = 'payments'

/** A producer on a client that does not reconnect: its ledger of outcomes. */
async function plainProducer(url: string, prefix: string, stop: { now: boolean }) {
  const client: Client = await connect(url, { name: prefix, reconnect: false, requestTimeoutMs: 30_000 })
  client.on('error', () => {})
  const producer = client.producer({ maxInFlight: 500 })
  const confirmed = new Map<string, string>()
  const rejected = new Map<string, number>()
  let pending = 0
  let sent = 0
  const outcomes: Promise<void>[] = []
  const loop = (async () => {
    for (let i = 0; !stop.now && i < 200_000; i++) {
      if (pending >= 500) {
        await sleep(1)
        i--
        continue
      }
      const id = `${prefix}-${i}`
      pending++
      sent++
      let p: Promise<{ partition: number; offset: number }>
      try {
        p = producer.publish(TOPIC, id)
      } catch (err) {
        p = Promise.reject(err)
      }
      outcomes.push(
        p.then(
          (r) => void confirmed.set(id, `${r.partition}/${r.offset}`),
          (err) => {
            const code = isSkiffError(err) ? err.codeName : String(err)
            rejected.set(code, (rejected.get(code) ?? 0) + 1)
          },
        ).finally(() => pending--),
      )
      if (i % 50 === 49) await new Promise((r) => setImmediate(r))
      if (client.closed) break
    }
  })()
  return { client, confirmed, rejected, loop, outcomes, get pending() { return pending }, get sent() { return sent } }
}

t.test('SIGTERM under load: nothing confirmed is lost, no publish is left hanging', async (t) => {
  const dataDir = tempDir(t, 'shutdown')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2', '--group-commit-ms', '50'] })
  t.teardown(() => broker.kill())
  await broker.start()
  const admin = await connect(broker.url, { reconnect: false })
  await admin.admin.createTopic(TOPIC, { partitions: 3 })
  await admin.close()

  const deadline = Date.now() + 120_000
  const group = new LedgerConsumer(broker.url, TOPIC, 'ledger')
  const reading = await group.start(deadline)
  const stop = { now: false }
  const plain = [await plainProducer(broker.url, 'a', stop), await plainProducer(broker.url, 'b', stop)]
  const steady = new LedgerProducer(broker.url, TOPIC, { prefix: 'r' })
  const steadyRun = steady.run(deadline)

  await until(() => plain.every((p) => p.confirmed.size > 500) && steady.confirmed > 500, 30_000)
  const pendingAtSignal = plain.map((p) => p.pending)
  const signalled = performance.now()
  const code = await broker.stop(20_000)
  const stopMs = performance.now() - signalled
  stop.now = true
  t.equal(code, 0, `the broker exited 0, ${stopMs.toFixed(0)} ms after SIGTERM (publishes in flight: ${pendingAtSignal.join(', ')})`)
  t.ok(broker.logged('stopped').length === 1, 'it logged its orderly stop')

  // Every publish of the non-reconnecting producers settles, bounded.
  const settled = await Promise.race([Promise.all(plain.map((p) => Promise.all(p.outcomes).then(() => p.loop))).then(() => true), timeout(20_000).then(() => false)])
  t.ok(settled, 'every publish settled: none left hanging')
  for (const [i, p] of plain.entries()) {
    const codes = [...p.rejected.keys()]
    t.same(codes.filter((c) => c !== 'SHUTTING_DOWN' && c !== 'CONNECTION_CLOSED'), [], `producer ${i}: ${p.confirmed.size} confirmed, rejections ${JSON.stringify(Object.fromEntries(p.rejected))} (retriable codes only)`)
    t.equal(p.confirmed.size + [...p.rejected.values()].reduce((a, b) => a + b, 0), p.sent, `producer ${i}: every publish has exactly one outcome`)
    await p.client.close()
  }

  await broker.start()
  await until(() => steady.client?.status === 'connected', 20_000)
  await sleep(300)
  steady.finish()
  await steadyRun
  t.equal(steady.confirmed, steady.sent.size, `the reconnecting producer's publishes all resolved (${steady.confirmed}) across the restart`)
  t.same([...steady.failed.values()].slice(0, 3), [], 'none of them failed')

  const log = await readWholeTopic(broker.url, TOPIC, Date.now() + 60_000)
  const expected = new Map<string, string>()
  for (const p of plain) for (const [id, where] of p.confirmed) expected.set(id, where)
  for (const [id, w] of steady.confirms) expected.set(id, `${w.partition}/${w.offset}`)
  const lost = [...expected].filter(([id, where]) => log.get(where) !== id)
  t.same(lost.slice(0, 5), [], `every confirmed message is in the log at its offset (${expected.size} confirmed, ${log.size} in the log)`)

  const delivered = await until(() => [...expected.keys()].every((id) => group.deliveries.has(id)), 60_000)
  t.ok(delivered, 'the group delivered every confirmed message, across the restart')
  group.stop()
  await reading.done
  t.equal(group.conflicts, 0, 'no offset held two different records')
})
