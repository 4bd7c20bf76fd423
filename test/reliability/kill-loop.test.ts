/**
 * Kill loop: the broker (its own process) is SIGKILLed at random moments
 * while a producer publishes unique ids with confirm and a consumer group
 * acks them; both reconnect after every restart. After the last restart the
 * producer finishes and the group drains. Then:
 *
 * - no confirmed id is missing from the log, and each sits at the offset
 *   (one of the offsets) its confirm named;
 * - no confirmed id is missing from the group's deliveries;
 * - no offset ever held two different records (across all runs);
 * - nothing in the log or in the deliveries was never published;
 * - duplicates (ids stored twice because the producer re-published after a
 *   kill, ids delivered twice because an ack was lost with the broker) are
 *   counted and printed, with the restart (recovery) times.
 *
 * SKIFF_KILLS sets the number of kills (default 5), SKIFF_SEED replays a run.
 */
import t from 'tap'
import { BrokerRunner, runSeed, seededRandom, sleep, tempDir, until } from './harness.js'
import { RestartingConsumer, RestartingProducer, readWholeTopic } from './restart-clients.js'
import { connect } from '../../clients/index.js'

const KILLS = Math.max(1, Number(process.env.SKIFF_KILLS) || 5)
const TOPIC = 'orders'

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
  const producer = new RestartingProducer(broker.url, TOPIC)
  const consumer = new RestartingConsumer(broker.url, TOPIC, 'billing')
  const producing = producer.run(deadline)
  const consuming = consumer.run(deadline)

  const killedAt: number[] = []
  for (let k = 0; k < KILLS; k++) {
    // Let load flow for a random while (and at least until something was confirmed since the restart).
    const confirmedBefore = producer.confirmed
    await until(() => producer.confirmed > confirmedBefore, 10_000)
    await sleep(150 + Math.floor(random() * 1200))
    await broker.kill()
    killedAt.push(producer.confirmed)
    await sleep(Math.floor(random() * 300)) // clients see the loss and retry meanwhile
    startMs.push(await broker.start())
  }
  // One more stretch of load on the last run, then drain.
  await sleep(500)
  producer.finish()
  await producing
  const sent = producer.sent
  const confirmed = producer.confirms
  t.equal(confirmed.size, sent.size, `the producer got every id confirmed in the end (${confirmed.size} of ${sent.size})`)

  const allDelivered = await until(() => [...confirmed.keys()].every((id) => consumer.deliveries.has(id)), 60_000)
  consumer.stop()
  await consuming

  const log = await readWholeTopic(broker.url, TOPIC, Date.now() + 60_000)
  const logCount = new Map<string, number>()
  for (const id of log.values()) logCount.set(id, (logCount.get(id) ?? 0) + 1)

  let missingFromLog = 0
  let misplaced = 0
  for (const [id, wheres] of confirmed) {
    if (!logCount.has(id)) missingFromLog++
    for (const w of wheres) if (log.get(`${w.partition}/${w.offset}`) !== id) misplaced++
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
  t.equal(broker.logged('listening').length, KILLS + 1, `the broker restarted after each of the ${KILLS} kills`)

  const restarts = startMs.slice(1)
  const recovered = producer.reconnects.slice(1).filter((r) => r.firstConfirmAt !== undefined)
  t.comment(`ids: ${sent.size} published, ${confirmed.size} confirmed, ${log.size} records in the log; confirmed when killed: ${killedAt.join(', ')}`)
  t.comment(`duplicates: ${storedTwice} stored twice (re-published after a kill; ${producer.retried} publishes retried), ${deliveredAgain} delivered again (${consumer.total} deliveries)`)
  t.comment(`restart to "listening": ${restarts.map((ms) => ms.toFixed(0)).join(', ')} ms (max ${Math.max(...restarts).toFixed(0)})`)
  t.comment(`reconnect to first confirm: ${recovered.map((r) => (r.firstConfirmAt! - r.connectedAt).toFixed(0)).join(', ')} ms`)
})
