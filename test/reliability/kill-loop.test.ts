/**
 * Kill loop: the broker (its own process) is SIGKILLed at random moments
 * while a producer publishes unique ids with confirm and a consumer group
 * acks them, both on clients that reconnect by themselves (the producer
 * re-sends unconfirmed batches idempotently). After the last restart the
 * producer finishes and the group drains. Then:
 *
 * - every publish resolved, and no confirmed id is missing from the log, each
 *   at the offset its confirm named;
 * - no confirmed id is missing from the group's deliveries;
 * - no offset ever held two different records (across all runs);
 * - nothing in the log or in the deliveries was never published;
 * - no id is stored twice (the idempotent producer's promise);
 * - redeliveries (acks lost with the broker) are counted and printed, with
 *   the restart and reconnect times.
 *
 * SKIFF_KILLS sets the number of kills (default 5), SKIFF_SEED replays a run.
 */
import t from 'tap'
import { BrokerRunner, runSeed, seededRandom, sleep, tempDir, until } from './harness.js'
import { LedgerConsumer, LedgerProducer, readWholeTopic, type Outage } from './reconnecting-clients.js'
import { connect } from '../../clients/index.js'

const KILLS = Math.max(1, Number(process.env.SKIFF_KILLS) || 5)
const TOPIC = 'orders'

const ms = (x: number) => x.toFixed(0)
const outageText = (os: Outage[]) =>
  os.map((o) => (o.backAt === undefined ? 'never back' : `${ms(o.backAt - o.lostAt)}${o.firstConfirmAt ? `+${ms(o.firstConfirmAt - o.backAt)}` : ''}`)).join(', ')

t.test(`${KILLS} SIGKILLs under load lose no confirmed id and deliver every one`, async (t) => {
  const seed = runSeed()
  const random = seededRandom(seed)
  t.comment(`seed ${seed} (SKIFF_SEED=${seed} replays the kill moments)`)
  const dataDir = tempDir(t, 'kill-loop')
  const broker = await BrokerRunner.create({ dataDir, args: ['--data-dir', dataDir, '--workers', '2', '--group-commit-ms', '50'] })
  t.teardown(() => broker.kill())
  const startMs = [await broker.start()]
  const admin = await connect(broker.url)
  await admin.admin.createTopic(TOPIC, { partitions: 3 })
  await admin.close()

  const deadline = Date.now() + 120_000
  const producer = new LedgerProducer(broker.url, TOPIC)
  const consumer = new LedgerConsumer(broker.url, TOPIC, 'billing')
  const consuming = await consumer.start(deadline)
  const producing = producer.run(deadline)

  const killedAt: number[] = []
  for (let k = 0; k < KILLS; k++) {
    // Let load flow for a random while (and at least until something was confirmed since the restart,
    // and both clients have seen the last outage and are back: a kill before the consumer's backoff
    // ends would make two outages one).
    const confirmedBefore = producer.confirmed
    await until(() => producer.confirmed > confirmedBefore, 20_000)
    const connected = (c: { client?: { status: string } }) => c.client?.status === 'connected'
    await until(() => connected(producer) && connected(consumer) && producer.outages.length >= k && consumer.outages.length >= k, 20_000)
    await sleep(150 + Math.floor(random() * 1200))
    await broker.kill()
    killedAt.push(producer.confirmed)
    await sleep(Math.floor(random() * 300)) // clients see the loss and retry meanwhile
    startMs.push(await broker.start())
  }
  // One more stretch of load on the last run, then drain.
  await until(() => producer.client?.status === 'connected' && consumer.client?.status === 'connected', 20_000)
  await sleep(500)
  producer.finish()
  await producing
  const { sent, confirms: confirmed } = producer
  t.equal(confirmed.size, sent.size, `every publish resolved (${confirmed.size} of ${sent.size})`)
  t.same([...producer.failed].slice(0, 5), [], 'no publish failed')

  const allDelivered = await until(() => [...confirmed.keys()].every((id) => consumer.deliveries.has(id)), 60_000)
  consumer.stop()
  await consuming.done

  const log = await readWholeTopic(broker.url, TOPIC, Date.now() + 60_000)
  const logCount = new Map<string, number>()
  for (const id of log.values()) logCount.set(id, (logCount.get(id) ?? 0) + 1)

  let missingFromLog = 0
  let misplaced = 0
  for (const [id, w] of confirmed) {
    if (!logCount.has(id)) missingFromLog++
    if (log.get(`${w.partition}/${w.offset}`) !== id) misplaced++
  }
  const missingFromGroup = [...confirmed.keys()].filter((id) => !consumer.deliveries.has(id))
  let offsetConflicts = consumer.conflicts
  for (const [where, id] of consumer.atOffset) if (log.has(where) && log.get(where) !== id) offsetConflicts++
  const strangers = [...new Set([...log.values(), ...consumer.deliveries.keys()])].filter((id) => !sent.has(id))
  const storedTwice = [...logCount.values()].reduce((n, c) => n + c - 1, 0)
  const deliveredAgain = [...consumer.deliveries.values()].reduce((n, c) => n + c - 1, 0)

  t.equal(missingFromLog, 0, 'no confirmed id is missing from the log')
  t.equal(misplaced, 0, 'every confirm names an offset that holds its id')
  t.ok(allDelivered, 'the group drained every confirmed id')
  t.same(missingFromGroup.slice(0, 10), [], 'no confirmed id is missing from the group deliveries')
  t.equal(offsetConflicts, 0, 'no offset held two different records')
  t.same(strangers.slice(0, 10), [], 'nothing was stored or delivered that was never published')
  t.equal(storedTwice, 0, 'no id is stored twice: re-sent batches were recognised')
  t.equal(broker.logged('listening').length, KILLS + 1, `the broker restarted after each of the ${KILLS} kills`)
  t.ok(producer.outages.length >= KILLS && consumer.outages.length >= KILLS, 'both clients saw every outage and came back')

  const restarts = startMs.slice(1)
  t.comment(`ids: ${sent.size} published, ${confirmed.size} confirmed, ${log.size} records in the log; confirmed when killed: ${killedAt.join(', ')}`)
  t.comment(`duplicates: ${storedTwice} stored twice; ${deliveredAgain} delivered again (${consumer.total} deliveries for ${consumer.deliveries.size} ids)`)
  t.comment(`broker restart to "listening": ${restarts.map(ms).join(', ')} ms`)
  t.comment(`producer outage to reconnect(+first confirm): ${outageText(producer.outages)} ms`)
  t.comment(`consumer outage to reconnect: ${outageText(consumer.outages)} ms`)
})
