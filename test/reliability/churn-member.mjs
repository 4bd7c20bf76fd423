/**
 * One member of a consumer group, in its own process so the churn test can
 * SIGKILL it in the middle of a batch. Uses the built client (dist/).
 *
 *   node churn-member.mjs <url> <topic> <group> <maxInFlight> <maxDeliveries> [hold]
 *
 * Acks every message except those whose payload starts with "poison", which
 * it nacks (so they end dead-lettered). With "hold" it settles nothing: a
 * stuck worker, which the test kills once it holds work, so at least one
 * kill is certain to land mid-batch whatever the timing. Each message takes 0-2 ms of "work",
 * so a kill finds some in flight. Reports one JSON line per event on stdout
 * (a pipe: written synchronously on Linux, so nothing reported is lost to a
 * kill): {e:'ready'}, {e:'d', p, o, c, t, id} for a delivery (partition,
 * offset, delivery count, receive time). SIGTERM leaves the group cleanly.
 */
import { connect } from '../../dist/clients/index.js'

const [url, topic, group, maxInFlight, maxDeliveries, mode] = process.argv.slice(2)
if (maxDeliveries === undefined) {
  // Run without arguments (say, by `tap test/reliability/`): not a test of its own.
  process.stdout.write('1..0 # SKIP a helper process of churn.test.ts\n')
  process.exit(0)
}
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const client = await connect(url, { name: 'churn-member', reconnect: false })
client.on('error', () => {})
const consumer = await client.subscribe(topic, {
  group,
  from: 'earliest',
  maxInFlight: Number(maxInFlight),
  maxDeliveries: Number(maxDeliveries),
  // Long enough that no deadline expires in the test: only nacks, kills and leaving move messages.
  ackTimeoutMs: 120_000,
})
process.on('SIGTERM', () => {
  consumer
    .close()
    .then(() => client.close())
    .finally(() => process.exit(0))
})
out({ e: 'ready' })
for await (const m of consumer) {
  const id = m.payload.toString()
  out({ e: 'd', p: m.partition, o: m.offset, c: m.deliveryCount, t: Date.now(), id })
  if (mode === 'hold') continue
  await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 3)))
  if (id.startsWith('poison')) m.nack({ delayMs: 5 })
  else m.ack()
}
